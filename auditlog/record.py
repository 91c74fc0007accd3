"""The election record's format, version 1: reading it strictly into typed parts.

docs/election-record.md is the specification; each rule here is stated there ("The file",
"Values", "The format"). Pure: the standard library and ``ballots`` only.
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditlog.votercodes import CODE_RE, SALT_RE
from ballots.rules import SelectionRule, SelectionRuleError, holds_vote
from ballots.tally import seed_problem

__all__ = [
    "FORMAT",
    "PAPER_INVALID_REASONS",
    "VERSION",
    "ElectionRecord",
    "RecordContest",
    "RecordError",
    "b64_field",
    "contest_order",
    "load_record",
    "paper_key",
    "read_record",
]

FORMAT = "kongressval-election-record"
VERSION = 1

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
ID_RE = re.compile(r"[1-9][0-9]*")
KRETS_RE = re.compile(r"[A-Z0-9_-]{1,40}")
HEX64_RE = re.compile(r"[0-9a-f]{64}")

RECORD_KEYS = ("format", "version", "election", "manifest", "log", "board", "contests", "tally")
MANIFEST_KEYS = (
    "version",
    "election",
    "title",
    "timezone",
    "voting_opens",
    "voting_closes",
    "log_key",
    "contests",
)
RULE_FIELDS = ("seats", "min_selections", "max_selections", "substitutes")
CONTEST_KEYS = (
    "id",
    "krets",
    *RULE_FIELDS,
    "list_hash",
    "candidates",
    "public_key_spki",
    "public_key_jwk",
    "key_bits",
)
JWK_KEYS = ("kty", "alg", "n", "e")
LOG_KEYS = ("name", "public_key", "fingerprint", "entries", "checkpoints")
CHECKPOINT_KEYS = ("body", "signature", "size", "root", "created_at", "reason")
BOARD_KEYS = ("contest", "krets", "ballots")
COUNT_KEYS = (
    "contest",
    "krets",
    "signatures_issued",
    "roll_size",
    "roll_codes",
    "roll_codes_salt",
    "issued_codes",
    "postal_envelopes",
    "postal_set_aside",
    "paper_ballots",
    "paper_invalid",
)


PAPER_INVALID_REASONS = ("too_few", "too_many", "unreadable")
"""Why a paper ballot is invalid: fewer or more names marked than the rule allows, or none
that can be read."""


def paper_key(choices: list[str]) -> bytes:
    """The order of ``paper_ballots``: by the canonical JSON of each ballot's choices."""
    return json.dumps(choices, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class RecordError(ValueError):
    """The record is not in the documented format; the message names the place."""


@dataclass(frozen=True)
class RecordContest:
    """One contest of the manifest, read and checked for types."""

    id: str
    krets: str
    rule: SelectionRule
    list_hash: str
    candidates: list[dict[str, str]]
    spki: bytes
    jwk: dict[str, str]
    key_bits: int

    @property
    def candidate_ids(self) -> list[str]:
        """The candidate ids in list order."""
        return [c["id"] for c in self.candidates]

    @property
    def holds_vote(self) -> bool:
        """Whether the contest was put to a vote: more candidates than seats."""
        return holds_vote(self.rule.seats, len(self.candidates))


@dataclass
class ElectionRecord:
    """The parts of a record the verifier works on."""

    slug: str
    manifest: dict[str, Any]
    contests: dict[str, RecordContest]
    entries: list[str]
    checkpoints: list[dict[str, Any]]
    log_key: bytes
    log_key_fingerprint: str
    board: dict[str, list[Any]]
    counts: dict[str, dict[str, Any]]
    seed: str
    results: dict[str, Any]


def contest_order(cid: str) -> tuple[int, str]:
    """Ascending numeric order of decimal ids without leading zeros (shorter is smaller)."""
    return (len(cid), cid)


# --- The file: strict JSON ---------------------------------------------------------------


class _Repeated(dict[str, Any]):
    """An object in which a key appeared more than once (the keys in ``repeated``)."""

    repeated: list[str]


class _Fraction(str):
    """A number written with a fraction or an exponent, kept as written."""


# A \u escape of a UTF-16 surrogate; only such an escape can put an unpaired surrogate into a
# string (the text itself is decoded UTF-8). Escaped backslashes make it match needlessly,
# which only costs the walk below.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def load_record(text: str) -> Any:
    """Parse the record file's text as strict JSON.

    ValueError (or RecursionError) if it is not JSON at all; RecordError naming the place of a
    key repeated in one object, of a number that is not an integer, or of an unpaired surrogate.
    """
    odd = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal odd
        value = dict(items)
        if len(value) == len(items):
            return value
        odd = True
        seen: set[str] = set()
        marked = _Repeated(value)
        marked.repeated = [k for k, _ in items if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
        return marked

    def fraction(literal: str) -> _Fraction:
        nonlocal odd
        odd = True
        return _Fraction(literal)

    def constant(literal: str) -> Any:
        raise ValueError(f"{literal} is not JSON")

    value = json.loads(text, object_pairs_hook=pairs, parse_float=fraction, parse_constant=constant)
    if odd or _SURROGATE_ESCAPE.search(text):
        problem = _strict_problem(value)
        if problem is not None:
            raise RecordError(problem)
    return value


def _strict_problem(value: Any) -> str | None:
    """The first place, in file order, that breaks the strict JSON rules; None if none."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        place, item = stack.pop()
        where = place or "the record"
        if isinstance(item, _Fraction):
            return f"{where}: the number {item} is not an integer (the record holds integers only)"
        if isinstance(item, str):
            if not _is_unicode(item):
                return f"{where}: a string holds an unpaired surrogate, which is not Unicode text"
        elif isinstance(item, dict):
            if isinstance(item, _Repeated):
                return f"{where}: the key {item.repeated[0]!r} appears more than once"
            for key in item:
                if not _is_unicode(key):
                    return f"{where}: a key holds an unpaired surrogate"
            stack.extend((f"{place}.{k}" if place else k, v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- Values ------------------------------------------------------------------------------


def exact(obj: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    """``obj`` if it is an object with exactly ``keys``; RecordError naming the odd key if not."""
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: not a JSON object")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise RecordError(f"{where}.{missing[0]}: missing")
    extra = sorted(k for k in obj if k not in keys)
    if extra:
        raise RecordError(f"{where}: unexpected key {extra[0]!r} (the keys are {', '.join(keys)})")
    return obj


def _matching(
    obj: dict[str, Any], key: str, pattern: re.Pattern[str], what: str, where: str
) -> str:
    value = obj[key]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RecordError(f"{where}.{key}: {value!r} is not {what}")
    return value


def _count(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj[key]
    if type(value) is not int or value < 0:
        raise RecordError(f"{where}.{key}: {value!r} is not a whole number ≥ 0")
    return value


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise RecordError(f"{where}.{key}: not a string")
    return value


def _codes(obj: dict[str, Any], key: str, where: str) -> list[str]:
    value = obj[key]
    if not isinstance(value, list):
        raise RecordError(f"{where}.{key}: not a list")
    for index, code in enumerate(value):
        if not isinstance(code, str) or not CODE_RE.fullmatch(code):
            raise RecordError(
                f"{where}.{key}[{index}]: {code!r} is not a voter code (like K7QF-3MXR-9T)"
            )
    return value


def _paper(obj: dict[str, Any], where: str) -> None:
    """``paper_ballots`` a list of lists of strings, ``paper_invalid`` a list of strings."""
    ballots = obj["paper_ballots"]
    if not isinstance(ballots, list):
        raise RecordError(f"{where}.paper_ballots: not a list")
    for index, choices in enumerate(ballots):
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise RecordError(f"{where}.paper_ballots[{index}]: not a list of strings")
    invalid = obj["paper_invalid"]
    if not isinstance(invalid, list) or not all(isinstance(r, str) for r in invalid):
        raise RecordError(f"{where}.paper_invalid: not a list of strings")


def b64_field(text: Any, where: str, length: int | None = None) -> bytes:
    """Canonical standard base64 with padding (RFC 4648 §4); RecordError naming ``where``."""
    if not isinstance(text, str) or not text.isascii():
        raise RecordError(f"{where}: not base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(f"{where}: not base64") from None
    # Why canonical: non-zero padding bits would give one value two spellings.
    if base64.b64encode(data).decode("ascii") != text:
        raise RecordError(f"{where}: not canonical base64 (padding bits must be zero)")
    if length is not None and len(data) != length:
        raise RecordError(f"{where}: {len(data)} bytes, not {length}")
    return data


# --- The format --------------------------------------------------------------------------


def _read_contest(item: Any, where: str, seen_candidates: set[str]) -> RecordContest:
    exact(item, CONTEST_KEYS, where)
    cid = _matching(item, "id", ID_RE, "a decimal id without leading zeros", where)
    krets = exact(item["krets"], ("code", "name"), f"{where}.krets")
    code = _matching(krets, "code", KRETS_RE, "a krets code (A-Z, 0-9, _ and -)", f"{where}.krets")
    _text(krets, "name", f"{where}.krets")
    for name in RULE_FIELDS:
        if type(item[name]) is not int:
            raise RecordError(f"{where}.{name}: {item[name]!r} is not an integer")
    rule = SelectionRule(*(item[name] for name in RULE_FIELDS))
    try:
        rule.check()
    except SelectionRuleError as exc:
        raise RecordError(f"{where}.{exc} (contest {cid})") from None
    candidates = item["candidates"]
    if not isinstance(candidates, list):
        raise RecordError(f"{where}.candidates: not a list")
    for index, candidate in enumerate(candidates):
        place = f"{where}.candidates[{index}]"
        exact(candidate, ("id", "name"), place)
        ident = _matching(candidate, "id", ID_RE, "a decimal id without leading zeros", place)
        _text(candidate, "name", place)
        if ident in seen_candidates:
            raise RecordError(f"{place}: candidate {ident} appears more than once in the manifest")
        seen_candidates.add(ident)
    if holds_vote(rule.seats, len(candidates)) and rule.max_selections > len(candidates):
        raise RecordError(
            f"{where}.max_selections: contest {cid} holds a vote, and its max_selections "
            f"{rule.max_selections} is more than its {len(candidates)} candidates"
        )
    jwk = exact(item["public_key_jwk"], JWK_KEYS, f"{where}.public_key_jwk")
    for name in JWK_KEYS:
        _text(jwk, name, f"{where}.public_key_jwk")
    if type(item["key_bits"]) is not int:
        raise RecordError(f"{where}.key_bits: not an integer")
    return RecordContest(
        id=cid,
        krets=code,
        rule=rule,
        list_hash=_matching(item, "list_hash", HEX64_RE, "64 lowercase hex digits", where),
        candidates=candidates,
        spki=b64_field(item["public_key_spki"], f"{where}.public_key_spki"),
        jwk=jwk,
        key_bits=item["key_bits"],
    )


def _per_contest(
    items: Any,
    keys: tuple[str, ...],
    where: str,
    contests: dict[str, RecordContest],
    read: Callable[[dict[str, Any], str], None],
) -> dict[str, dict[str, Any]]:
    """A list naming each contest of the manifest once, with its krets; by contest id."""
    if not isinstance(items, list):
        raise RecordError(f"{where}: not a list")
    found: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        place = f"{where}[{index}]"
        exact(item, keys, place)
        cid = item["contest"]
        if not isinstance(cid, str) or cid not in contests:
            raise RecordError(f"{place}.contest: {cid!r} is not a contest of the manifest")
        if cid in found:
            raise RecordError(f"{place}: contest {cid} appears more than once")
        if item["krets"] != contests[cid].krets:
            raise RecordError(
                f"{place}.krets: {item['krets']!r} is not contest {cid}'s krets "
                f"{contests[cid].krets}"
            )
        read(item, place)
        found[cid] = item
    missing = sorted(set(contests) - set(found), key=contest_order)
    if missing:
        raise RecordError(f"{where}: contest {missing[0]} is missing")
    return found


def _read_checkpoint(item: Any, where: str) -> dict[str, Any]:
    checkpoint = exact(item, CHECKPOINT_KEYS, where)
    _count(checkpoint, "size", where)
    for name in ("body", "signature", "root", "created_at", "reason"):
        _text(checkpoint, name, where)
    return checkpoint


def read_record(record: Any) -> ElectionRecord:
    """Check the record's shape, types and forms and read it; RecordError naming the place."""
    if not isinstance(record, dict):
        raise RecordError("the record is not a JSON object")
    if record.get("format") != FORMAT:
        raise RecordError(f"format: not {FORMAT!r}")
    version = record.get("version")
    # Why type() is int: JSON true and 1.0 compare equal to 1 in Python, and are not 1.
    if type(version) is not int or version != VERSION:
        raise RecordError(
            f"version: {json.dumps(version)} is not the integer {VERSION}, the one version "
            "this verifier reads"
        )
    exact(record, RECORD_KEYS, "record")
    slug = _matching(record, "election", SLUG_RE, "an election slug", "record")
    manifest = exact(record["manifest"], MANIFEST_KEYS, "manifest")
    if type(manifest["version"]) is not int or manifest["version"] != 1:
        raise RecordError(f"manifest.version: {manifest['version']!r} is not the integer 1")
    if manifest["election"] != slug:
        raise RecordError(f"manifest.election: {manifest['election']!r} is not {slug!r}")
    for name in ("title", "timezone", "voting_opens", "voting_closes"):
        _text(manifest, name, "manifest")
    b64_field(manifest["log_key"], "manifest.log_key", 32)
    if not isinstance(manifest["contests"], list) or not manifest["contests"]:
        raise RecordError("manifest.contests: not a non-empty list")
    contests: dict[str, RecordContest] = {}
    kretsar: set[str] = set()
    seen_candidates: set[str] = set()
    for index, item in enumerate(manifest["contests"]):
        contest = _read_contest(item, f"manifest.contests[{index}]", seen_candidates)
        if contest.id in contests:
            raise RecordError(f"manifest.contests[{index}]: contest {contest.id} appears twice")
        if contest.krets in kretsar:
            raise RecordError(f"manifest.contests[{index}]: krets {contest.krets} appears twice")
        contests[contest.id] = contest
        kretsar.add(contest.krets)
    log = exact(record["log"], LOG_KEYS, "log")
    if log["name"] != slug:
        raise RecordError(f"log.name: {log['name']!r} is not the election's slug {slug!r}")
    log_key = b64_field(log["public_key"], "log.public_key", 32)
    fingerprint = _text(log, "fingerprint", "log")
    entries = log["entries"]
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise RecordError("log.entries: not a list of strings")
    if not isinstance(log["checkpoints"], list):
        raise RecordError("log.checkpoints: not a list")
    checkpoints = [
        _read_checkpoint(cp, f"log.checkpoints[{i}]") for i, cp in enumerate(log["checkpoints"])
    ]

    def ballots(item: dict[str, Any], where: str) -> None:
        if not isinstance(item["ballots"], list):
            raise RecordError(f"{where}.ballots: not a list")

    def counts(item: dict[str, Any], where: str) -> None:
        _count(item, "signatures_issued", where)
        _count(item, "roll_size", where)
        _codes(item, "roll_codes", where)
        _matching(item, "roll_codes_salt", SALT_RE, "64 lowercase hex digits", where)
        _codes(item, "issued_codes", where)
        _count(item, "postal_envelopes", where)
        _count(item, "postal_set_aside", where)
        _paper(item, where)

    board = _per_contest(record["board"], BOARD_KEYS, "board", contests, ballots)
    count_items = _per_contest(record["contests"], COUNT_KEYS, "contests", contests, counts)
    tally = exact(record["tally"], ("seed", "results"), "tally")
    problem = seed_problem(tally["seed"])
    if problem is not None:
        raise RecordError(f"tally.seed: {problem}")
    if not isinstance(tally["results"], dict):
        raise RecordError("tally.results: not a JSON object")
    return ElectionRecord(
        slug=slug,
        manifest=manifest,
        contests=contests,
        entries=entries,
        checkpoints=checkpoints,
        log_key=log_key,
        log_key_fingerprint=fingerprint,
        board={cid: item["ballots"] for cid, item in board.items()},
        counts=count_items,
        seed=tally["seed"],
        results=tally["results"],
    )


def read_record_file(path: str) -> Any:
    """The parsed record file (``-`` for standard input), or the RecordError it is not a record
    for; raises OSError, ValueError or RecursionError when it cannot be read as JSON at all."""
    # Why: parsing a large record makes millions of objects and no garbage cycles, and the
    # collector would walk them all again and again; frozen, the forked workers leave them be.
    gc.disable()
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        record: Any = load_record(text)
    except RecordError as exc:
        record = exc
    finally:
        gc.enable()
    del text
    gc.freeze()
    return record


def contests_in_order(rec: ElectionRecord) -> list[tuple[str, RecordContest]]:
    """The record's contests in the record's order (``contest_order``)."""
    return sorted(rec.contests.items(), key=lambda item: contest_order(item[0]))
