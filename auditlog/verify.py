"""The offline verifier of an election record: ``verify-election RECORD [--log-key FP] [--json]``.

Pure: it imports only ``auditlog``, ``ballots``, ``cryptography`` and the standard library, so an
auditor runs it without the server, a database or a secret. See docs/election-record.md.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gc
import hashlib
import json
import multiprocessing
import operator
import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import chain, islice, repeat
from json.encoder import encode_basestring
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from auditlog.checkpoint import CheckpointError, key_fingerprint, verify_checkpoint
from auditlog.entries import ChainError, canonical_json, leaf_hash, verify_chain
from auditlog.merkle import root as merkle_root
from auditlog.record import (
    FORMAT,
    VERSION,
    ElectionRecord,
    RecordContest,
    RecordError,
    b64_field,
    events_by_type,
    one_event,
    read_record,
    require,
    sealed_contests,
)
from ballots.ballot import NONCE_LENGTH, b64url_decode, parse_ballot
from ballots.blindrsa import (
    PREFIX_LENGTH,
    SALT_LENGTH,
    load_public_key_spki,
    modulus_length,
    public_key_jwk,
)
from ballots.board import BOARD_FIELDS, board_hash
from ballots.errors import BallotError
from ballots.rules import SelectionRule
from ballots.tally import TallyError, count, lottery_key, result_bytes, result_hash, turnout

__all__ = ["FORMAT", "VERSION", "Check", "RecordError", "main", "verify_record"]

PARALLEL_THRESHOLD = 2000  # below this many ballots, starting worker processes costs more
CHUNK_SIZE = 4000
MAX_SHOWN = 10  # problems named per check; the rest are counted


@dataclass(frozen=True)
class Check:
    """One named check of the record and what it found."""

    name: str
    ok: bool
    detail: str


# --- Checks ------------------------------------------------------------------------------


def _summary(name: str, problems: list[str], ok_detail: str) -> Check:
    if not problems:
        return Check(name, True, ok_detail)
    shown = "; ".join(problems[:MAX_SHOWN])
    more = len(problems) - MAX_SHOWN
    return Check(name, False, shown + (f"; and {more} more" if more > 0 else ""))


def _check_chain(rec: ElectionRecord) -> Check:
    bodies = [e.encode("utf-8") for e in rec.entries]
    try:
        verify_chain(bodies)
    except ChainError as exc:
        return Check("log chain", False, f"log {exc}")
    return Check("log chain", True, f"{len(bodies)} entries, canonical, numbered and chained")


def _check_log_key(rec: ElectionRecord, expected: str | None) -> Check:
    problems = []
    if len(rec.log_key) != 32:
        problems.append(f"the log key has {len(rec.log_key)} bytes, not 32")
    actual = key_fingerprint(rec.log_key)
    if actual != rec.log_key_fingerprint:
        problems.append(f"the record's fingerprint is not that of its log key ({actual})")
    if rec.manifest.get("log_key") != base64.b64encode(rec.log_key).decode():
        problems.append("the manifest names another log key")
    if expected is not None and _norm(expected) != _norm(actual):
        problems.append(f"the log key's fingerprint {actual} is not the expected {expected}")
    if expected is not None:
        return _summary("log key", problems, f"fingerprint {actual}, as expected (--log-key)")
    # Why so explicit: without --log-key the record was only checked against its own key, and a
    # log re-signed with another key passes that; only the printed fingerprint tells them apart.
    return _summary(
        "log key",
        problems,
        f"fingerprint {actual} matches the record's own key only; NOT checked against an outside "
        'fingerprint (run with --log-key "<fingerprint printed in the protocol>")',
    )


def _norm(fingerprint: str) -> str:
    return "".join(fingerprint.split()).lower()


def _check_checkpoints(rec: ElectionRecord) -> Check:
    leaves = [bytes.fromhex(leaf_hash(e.encode("utf-8"))) for e in rec.entries]
    problems: list[str] = []
    previous = -1
    sizes = []
    for index, cp in enumerate(rec.checkpoints):
        where = f"checkpoint {index}"
        try:
            origin, size, root = verify_checkpoint(
                cp["body"], b64_field(cp["signature"], f"{where}.signature"), rec.log_key
            )
        except (CheckpointError, RecordError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        where = f"checkpoint {index} (size {size})"
        if not origin.endswith("/" + rec.slug):
            problems.append(f"{where}: origin {origin!r} is not of election {rec.slug}")
        if size > len(leaves):
            problems.append(f"{where}: covers more entries than the log's {len(leaves)}")
        elif merkle_root(leaves[:size]) != root:
            problems.append(f"{where}: root is not the Merkle root of the first {size} entries")
        if cp.get("root") != base64.b64encode(root).decode() or cp.get("size") != size:
            problems.append(f"{where}: its size or root field is not the signed one")
        if size <= previous:
            problems.append(f"{where}: not larger than the checkpoint before it")
        previous = size
        sizes.append(size)
    seal_positions = _positions(rec.entries, "board.sealed")
    if not rec.checkpoints:
        problems.append("the record holds no checkpoint")
    elif seal_positions and seal_positions[0] + 1 not in sizes:
        problems.append("no checkpoint was written at the board seal")
    if sizes and sizes[-1] != len(leaves):
        uncovered = len(leaves) - max(sizes)
        if uncovered > 0:
            problems.append(
                f"the last {uncovered} log entries (from entry {max(sizes)}) are not covered by "
                "a signed checkpoint"
            )
    return _summary(
        "checkpoints",
        problems,
        f"{len(sizes)} signed checkpoints, sizes {sizes}, each a prefix of the log",
    )


def _positions(entries: Sequence[str], event_type: str) -> list[int]:
    found = []
    for index, body in enumerate(entries):
        try:
            fields = json.loads(body)
        except ValueError:
            continue
        if isinstance(fields, dict) and fields.get("type") == event_type:
            found.append(index)
    return found


def _check_candidate_lists(rec: ElectionRecord) -> Check:
    problems: list[str] = []
    data = one_event(rec, "candidates.published")
    published = {
        require(item, "contest", str, "candidates.published"): item
        for item in require(data, "contests", list, "candidates.published")
    }
    if set(published) != set(rec.contests):
        problems.append(
            f"the log publishes contests {sorted(published)}, the manifest has "
            f"{sorted(rec.contests)}"
        )
    for cid, contest in rec.contests.items():
        event = published.get(cid)
        if event is None:
            continue
        computed = hashlib.sha256(canonical_json(contest.candidates)).hexdigest()
        if computed != contest.list_hash:
            problems.append(f"contest {cid}: the candidate list does not hash to its list_hash")
        if event.get("list_hash") != computed:
            problems.append(
                f"contest {cid}: the candidate list is not the one published in the log"
            )
        if event.get("candidates") != [c["id"] for c in contest.candidates]:
            problems.append(f"contest {cid}: the candidate ids are not those in the log")
        if event.get("key_sha256") != hashlib.sha256(contest.spki).hexdigest():
            problems.append(f"contest {cid}: the contest key is not the one published in the log")
        problems.extend(_key_forms(contest))
    return _summary(
        "candidate lists and keys",
        problems,
        f"{len(rec.contests)} contests: lists and keys match the candidates.published event",
    )


def _key_forms(contest: RecordContest) -> list[str]:
    """The manifest's JWK and key size must be the same key as its SPKI."""
    try:
        key = load_public_key_spki(contest.spki)
    except BallotError as exc:
        return [f"contest {contest.id}: {exc.message}"]
    problems = []
    if contest.jwk != public_key_jwk(key):
        problems.append(f"contest {contest.id}: public_key_jwk is not the key of public_key_spki")
    if contest.key_bits != key.key_size:
        problems.append(f"contest {contest.id}: key_bits is not the size of public_key_spki")
    return problems


# --- Ballots -----------------------------------------------------------------------------
#
# The ballots are checked in worker processes, in tasks of one chunk of one contest's board,
# plus one task per contest for its board hash. The workers read the board from this module's
# ``_JOB``: forked workers inherit it from the parent's memory (nothing is pickled), spawned
# ones (when the caller runs threads) receive one pickled copy each when they start.

_FIELD_SET = frozenset(BOARD_FIELDS)
# A canonical ballot ends with ``"nonce":"<22 characters>","v":1}`` (sorted keys put the nonce
# last but one and ``v`` last): the nonce occupies [len - 30, len - 8).
_NONCE_FROM_END = 30
_NONCE_TO_END = 8
_B64URL_LAST_CHAR = {0: "[A-Za-z0-9_-]", 1: "[AQgw]", 2: "[AEIMQUYcgkosw048]"}
_TO_STANDARD_B64 = bytes.maketrans(b"-_", b"+/")
_CACHE_LIMIT = 1 << 16  # remembered ballot forms per contest and process (~10 MB)


class _Base64Url:
    """The one unpadded base64url spelling of ``length`` bytes that ``b64url_decode`` accepts.

    That is: the alphabet only, exactly ``ceil(4 * length / 3)`` characters, and zero stray bits
    in the last character (so 1 of 4 or 1 of 16 last characters, or any when there are none).
    ``decode`` gives None for anything else, and the caller then asks ``b64url_decode`` for the
    error; tests/auditlog/test_verify.py checks that the two agree.
    """

    def __init__(self, length: int) -> None:
        self.chars = (4 * length + 2) // 3
        last = _B64URL_LAST_CHAR[length % 3]
        self.pattern = re.compile(f"[A-Za-z0-9_-]{{{self.chars - 1}}}{last}")
        self.padding = b"=" * (-self.chars % 4)

    def decode(self, text: str) -> bytes | None:
        if len(text) != self.chars or self.pattern.fullmatch(text) is None:
            return None
        return binascii.a2b_base64(text.encode("ascii").translate(_TO_STANDARD_B64) + self.padding)


_NONCE = _Base64Url(NONCE_LENGTH)
_PREFIX = _Base64Url(PREFIX_LENGTH)


@dataclass(frozen=True)
class _ContestSpec:
    """What a worker needs to check one contest's ballots."""

    election: str
    cid: str
    spki: bytes
    candidate_ids: tuple[str, ...]
    rule: SelectionRule


class _ContestChecker:
    """Checks board entries of one contest, in one process, for one verification."""

    def __init__(self, spec: _ContestSpec, key: rsa.RSAPublicKey) -> None:
        self.spec = spec
        self.ids = frozenset(spec.candidate_ids)
        # The manifest's own id strings, so that the choices sent back to the parent share
        # string objects and pickle small.
        self.id_objects = {c: c for c in spec.candidate_ids}
        self.signature_ok = _signature_checker(key)
        self.signature = _Base64Url(modulus_length(key))
        self.accepted: dict[str, tuple[str, ...]] = {}

    def choices(self, text: str) -> tuple[str, ...]:
        """The ballot's choices if ``parse_ballot`` accepts it; else its BallotError.

        Why the shortcut is exactly as strict: a key of ``accepted`` is a ballot that
        ``parse_ballot`` accepted, with its nonce cut out. A canonical ballot's nonce is the 22
        characters at [len - 30, len - 8), and ``json.dumps`` writes a base64url nonce as it is,
        quoted. So a text that equals an accepted ballot everywhere but there, and holds a valid
        nonce there (``_NONCE``), is the canonical ballot of the same choices with that nonce:
        ``parse_ballot`` would accept it, with the same choices.
        """
        n = len(text)
        key = text[: n - _NONCE_FROM_END] + text[n - _NONCE_TO_END :] if n > 64 else ""
        known = self.accepted.get(key) if key else None
        if (
            known is not None
            and _NONCE.decode(text[n - _NONCE_FROM_END : n - _NONCE_TO_END]) is not None
        ):
            return known
        spec = self.spec
        parsed = parse_ballot(
            text, election=spec.election, contest=spec.cid, candidate_ids=self.ids, rule=spec.rule
        )
        choices = tuple(self.id_objects[c] for c in parsed.choices)
        nonce_slot = text[n - _NONCE_FROM_END : n - _NONCE_TO_END]
        if key and nonce_slot == parsed.nonce and len(self.accepted) < _CACHE_LIMIT:
            self.accepted[key] = choices
        return choices


@dataclass
class _Job:
    """The board being verified and the per-process checkers of its contests."""

    board: dict[str, list[Any]]
    specs: dict[str, _ContestSpec]
    checkers: dict[str, _ContestChecker | str] = field(default_factory=dict)

    def checker(self, cid: str) -> _ContestChecker | str:
        """The contest's checker, or the message why its key cannot be used."""
        found = self.checkers.get(cid)
        if found is None:
            spec = self.specs[cid]
            try:
                found = _ContestChecker(spec, load_public_key_spki(spec.spki))
            except BallotError as exc:
                found = f"contest {cid}: {exc.message}"
            self.checkers[cid] = found
        return found


_JOB: _Job | None = None

# ("ballots", contest, start, stop) or ("board hash", contest, 0, 0)
_Task = tuple[str, str, int, int]
# A chunk's invalid ballots, bad signatures and the choices of its valid ballots (counted).
_Chunk = tuple[list[str], list[str], dict[tuple[str, ...], int]]
# A board hash: hex; None if the board cannot be hashed; "" if the parent must redo it.
_Outcome = _Chunk | str | None


def _install(job: _Job) -> None:
    """Make ``job`` this process's job (the initializer of spawned workers)."""
    global _JOB  # noqa: PLW0603 - the workers' shared, read-only job
    _JOB = job


def _run_task(task: _Task) -> _Outcome:
    job = _JOB
    if job is None:
        raise RuntimeError("no verification job in this process")
    kind, cid, start, stop = task
    if kind == "board hash":
        return _fast_board_hash(job.board[cid])
    return _check_chunk(job, cid, job.board[cid][start:stop])


def _signature_checker(key: rsa.RSAPublicKey) -> Callable[[bytes, bytes], bool]:
    """``ballots.blindrsa.verify`` with the key's modulus read once, not per signature.

    Same rules: a signature of exactly the modulus's length, below the modulus, verifying as
    RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt. Reading the modulus per call costs
    a fifth of a verification, which matters at a million ballots.
    """
    n = key.public_numbers().n
    length = (n.bit_length() + 7) // 8
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=SALT_LENGTH)
    digest = hashes.SHA384()

    def check(message: bytes, signature: bytes) -> bool:
        # Why the length and range test: one signature has one byte form, so "no signature
        # appears twice" is a comparison of strings.
        if len(signature) != length or int.from_bytes(signature, "big") >= n:
            return False
        try:
            key.verify(signature, message, pss, digest)
        except InvalidSignature:
            return False
        return True

    return check


def _check_chunk(job: _Job, cid: str, ballots: list[Any]) -> _Chunk:
    """Check a chunk of one contest's ballots: (invalid, bad signatures, choices of valid ones)."""
    checker = job.checker(cid)
    if isinstance(checker, str):
        return [checker], [], {}
    invalid: list[str] = []
    unsigned: list[str] = []
    counted: dict[tuple[str, ...], int] = {}
    sha256 = hashlib.sha256
    signature_ok = checker.signature_ok
    for entry in ballots:
        if not isinstance(entry, dict) or entry.keys() != _FIELD_SET:
            invalid.append(f"contest {cid}: a board entry does not have exactly {BOARD_FIELDS}")
            continue
        text, digest = entry["ballot"], entry["ballot_hash"]
        prefix_text, signature_text = entry["msg_prefix"], entry["signature"]
        if not (
            isinstance(text, str)
            and isinstance(digest, str)
            and isinstance(prefix_text, str)
            and isinstance(signature_text, str)
        ):
            invalid.append(f"contest {cid}: a board entry holds a field that is not a string")
            continue
        try:
            choices = checker.choices(text)
            prefix = _PREFIX.decode(prefix_text)
            if prefix is None:
                prefix = b64url_decode(prefix_text, field="msg_prefix", length=PREFIX_LENGTH)
            signature = checker.signature.decode(signature_text)
            if signature is None:
                signature = b64url_decode(signature_text, field="signature")
        except BallotError as exc:
            invalid.append(f"ballot {digest[:8]}…: {exc.message}")
            continue
        message = prefix + text.encode("utf-8")
        if sha256(message).hexdigest() != digest:  # ballots.ballot.ballot_hash
            invalid.append(
                f"ballot {digest[:8]}…: its ballot_hash is not SHA-256(msg_prefix || ballot)"
            )
            continue
        if not signature_ok(message, signature):
            unsigned.append(
                f"ballot {digest[:8]}…: signature does not verify under contest {cid}'s key"
            )
            continue
        counted[choices] = counted.get(choices, 0) + 1
    return invalid, unsigned, counted


def _fast_board_hash(ballots: list[Any]) -> str | None:
    """``board_hash(ballots)``; None where it raises KeyError or TypeError, "" on other errors.

    Why the shortcut equals it: when every entry has exactly the board fields, all strings, and
    the entries are already in ballot-hash order, ``sorted_board`` changes nothing (its sort is
    stable and ``str`` of a string is the string). Its ``json.dumps`` (sorted keys, no
    whitespace, no ASCII escaping) then writes each entry as below: the fields in this (sorted)
    order, each string through ``encode_basestring``, the encoder json uses for strings when
    ``ensure_ascii`` is off.
    """
    try:
        if not _plain_and_sorted(ballots):
            return board_hash(ballots)
        quote = encode_basestring
        text = ",".join(
            [
                f'{{"ballot":{quote(e["ballot"])},"ballot_hash":{quote(e["ballot_hash"])},'
                f'"msg_prefix":{quote(e["msg_prefix"])},"signature":{quote(e["signature"])}}}'
                for e in ballots
            ]
        )
        return hashlib.sha256(f"[{text}]".encode()).hexdigest()
    except (KeyError, TypeError):
        return None
    except Exception:  # noqa: BLE001 - the parent recomputes it and reports as before
        return ""


def _plain_and_sorted(ballots: list[Any]) -> bool:
    """Every entry a dict of exactly the board fields, all strings, in ballot-hash order."""
    previous = ""
    for entry in ballots:
        if type(entry) is not dict or entry.keys() != _FIELD_SET:
            return False
        digest = entry["ballot_hash"]
        if (
            type(digest) is not str
            or type(entry["ballot"]) is not str
            or type(entry["msg_prefix"]) is not str
            or type(entry["signature"]) is not str
            or digest < previous
        ):
            return False
        previous = digest
    return True


def _tasks(rec: ElectionRecord) -> list[_Task]:
    # The board hashes first: they are the longest tasks, so the pool ends evenly.
    tasks: list[_Task] = [("board hash", cid, 0, 0) for cid in rec.board]
    for cid, ballots in rec.board.items():
        if cid not in rec.contests:
            continue
        for start in range(0, max(len(ballots), 1), CHUNK_SIZE):
            tasks.append(("ballots", cid, start, min(start + CHUNK_SIZE, len(ballots))))
    return tasks


def _job(rec: ElectionRecord) -> _Job:
    specs = {
        cid: _ContestSpec(
            election=rec.slug,
            cid=cid,
            spki=contest.spki,
            candidate_ids=tuple(c["id"] for c in contest.candidates),
            rule=contest.rule,
        )
        for cid, contest in rec.contests.items()
    }
    return _Job(board=rec.board, specs=specs)


def _run_tasks(
    job: _Job,
    tasks: list[_Task],
    total: int,
    workers: int | None,
    meanwhile: Callable[[], None],
) -> list[_Outcome]:
    """The tasks' outcomes, in order; ``meanwhile`` runs in this process while workers work."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or total < PARALLEL_THRESHOLD:
        _install(job)
        try:
            outcomes = [_run_task(task) for task in tasks]
        finally:
            _install_none()
        meanwhile()
        return outcomes
    # Why: forking a process that runs other threads (a test runner's servers) can deadlock, so
    # then spawn; the verifier's own process is single-threaded and forks, which starts faster,
    # does not re-import the caller's main module and shares the board without copying it.
    single = threading.active_count() == 1
    fork = single and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    thaw = fork and gc.get_freeze_count() == 0
    if fork:
        _install(job)
        # Why: the collector would otherwise walk (and so copy) every inherited page.
        gc.freeze()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    else:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_install, initargs=(job,)
        )
    try:
        with pool:
            results = pool.map(_run_task, tasks)
            meanwhile()
            return list(results)
    finally:
        if thaw:
            gc.unfreeze()
        _install_none()


def _install_none() -> None:
    global _JOB  # noqa: PLW0603
    _JOB = None


def _check_ballots(
    rec: ElectionRecord, workers: int | None
) -> tuple[list[Check], dict[str, Counter[tuple[str, ...]]], dict[str, str | None]]:
    """Ballot validity, signatures and duplicates; the choices per contest for the recount and
    the board hashes ("" where the parent must compute one)."""
    invalid: list[str] = []
    unknown = [cid for cid in rec.board if cid not in rec.contests]
    invalid.extend(f"board contest {cid}: not a contest of the manifest" for cid in unknown)
    invalid.extend(
        f"contest {cid}: missing from the board" for cid in rec.contests if cid not in rec.board
    )
    unsigned: list[str] = []
    tasks = _tasks(rec)
    total = sum(len(b) for b in rec.board.values())
    choices: dict[str, Counter[tuple[str, ...]]] = {cid: Counter() for cid in rec.board}
    board_hashes: dict[str, str | None] = {}
    scanned: list[tuple[list[str], list[str]]] = []
    outcomes = _run_tasks(
        _job(rec), tasks, total, workers, lambda: scanned.append(_duplicates_and_order(rec))
    )
    for task, outcome in zip(tasks, outcomes, strict=True):
        if task[0] == "board hash":
            board_hashes[task[1]] = outcome if isinstance(outcome, str) or outcome is None else ""
        elif isinstance(outcome, tuple):
            bad, bad_sig, chosen = outcome
            invalid.extend(bad)
            unsigned.extend(bad_sig)
            choices[task[1]].update(chosen)
    duplicates, order = scanned[0]
    return (
        [
            _summary("ballots valid", invalid + order, f"{total} ballots canonical and valid"),
            _summary("ballot signatures", unsigned, f"{total} RSA-PSS signatures verify"),
            _summary("no duplicates", duplicates, "no ballot hash and no signature appears twice"),
        ],
        choices,
        board_hashes,
    )


def _duplicates_and_order(rec: ElectionRecord) -> tuple[list[str], list[str]]:
    """Ballot hashes or signatures that appear twice, and boards out of ballot-hash order."""
    # The common case, all in C: every entry a dict holding both strings, no repeats, in order.
    try:
        digests: list[str] = []
        signatures: list[str] = []
        in_order = True
        for ballots in rec.board.values():
            mine = [entry["ballot_hash"] for entry in ballots]
            digests += mine
            signatures += [entry["signature"] for entry in ballots]
            in_order = in_order and all(map(operator.le, mine, islice(mine, 1, None)))
        if (
            in_order
            and set(map(type, digests)) <= {str}
            and set(map(type, signatures)) <= {str}
            and len(set(digests)) == len(digests)
            and len(set(signatures)) == len(signatures)
        ):
            return [], []
    except (KeyError, TypeError):
        pass
    duplicates: list[str] = []
    order: list[str] = []
    seen_hashes: set[str] = set()
    seen_signatures: set[str] = set()
    for cid, ballots in rec.board.items():
        previous = ""
        for index, entry in enumerate(ballots):
            if not isinstance(entry, dict):
                continue
            digest, signature = str(entry.get("ballot_hash")), str(entry.get("signature"))
            if digest in seen_hashes:
                duplicates.append(f"ballot {digest[:8]}…: its ballot hash appears twice")
            if signature in seen_signatures:
                duplicates.append(f"ballot {digest[:8]}…: its signature appears twice")
            seen_hashes.add(digest)
            seen_signatures.add(signature)
            if digest < previous:
                order.append(f"contest {cid}: ballot {index} is out of ballot-hash order")
            previous = digest
    return duplicates, order


def _check_counts(rec: ElectionRecord, sealed: dict[str, dict[str, Any]]) -> Check:
    problems = []
    for cid in sorted(rec.contests, key=_contest_order):
        seal = sealed.get(cid)
        if seal is None:
            problems.append(f"contest {cid}: not in the board.sealed event")
            continue
        ballots = len(rec.board.get(cid, []))
        issued, roll = seal.get("signatures_issued"), seal.get("roll_size")
        if not isinstance(issued, int) or not isinstance(roll, int):
            problems.append(f"contest {cid}: the seal lacks signatures_issued or roll_size")
            continue
        if ballots != seal.get("ballots"):
            problems.append(
                f"contest {cid}: {ballots} ballots on the board, {seal.get('ballots')} sealed"
            )
        if not ballots <= issued <= roll:
            problems.append(
                f"contest {cid}: not ballots ({ballots}) ≤ signatures issued ({issued}) ≤ "
                f"roll size ({roll})"
            )
        listed = rec.counts.get(cid, {})
        if (listed.get("signatures_issued"), listed.get("roll_size")) != (issued, roll):
            problems.append(f"contest {cid}: the record's counts are not the sealed ones")
        krets = rec.contests[cid].krets
        if {seal.get("krets"), listed.get("krets"), rec.board_krets.get(cid)} != {krets}:
            problems.append(f"contest {cid}: the krets is not {krets} everywhere")
    return _summary(
        "ballots ≤ signatures ≤ roll", problems, "every contest: ballots ≤ signatures ≤ roll"
    )


def _log_events(entries: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """Each log entry's type and data, in log order; entries that are not objects are skipped."""
    for body in entries:
        try:
            fields = json.loads(body)
        except ValueError:
            continue
        if isinstance(fields, dict):
            yield str(fields.get("type")), fields.get("data")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _logged_roll(rec: ElectionRecord) -> tuple[dict[str, int] | None, Counter[str], list[str]]:
    """The roll as the log has it at the seal: the frozen size and the members added per contest.

    Mirrors ``roll_sizes`` in voting/ballot/services.py: the roll is the members put on it at
    the freeze (``roll.frozen`` logs the size per contest) plus those the committee added after
    it (one ``roll.member_added`` event each); nothing is ever taken off it. Only events before
    the ``board.sealed`` event count, as the seal took the sizes then. No roll.frozen before the
    seal (None) means an empty roll: members can only be added to a frozen roll.
    """
    problems: list[str] = []
    frozen: dict[str, int] = {}
    added: Counter[str] = Counter()
    added_voters: set[str] = set()
    freezes = 0
    froze = sealed = False
    for kind, data in _log_events(rec.entries):
        if kind == "board.sealed":
            sealed = True
        elif kind == "roll.frozen":
            freezes += 1
            if freezes == 2:
                problems.append("the log holds more than one roll.frozen event")
            if sealed or freezes > 1:
                continue
            froze = True
            listed: set[str] = set()
            for item in require(data, "contests", list, "roll.frozen"):
                cid = require(item, "contest", str, "roll.frozen.contests")
                size = item.get("size")
                contest = rec.contests.get(cid)
                if contest is None:
                    problems.append(f"roll.frozen: contest {cid} is not a contest of the manifest")
                elif cid in listed:
                    problems.append(f"roll.frozen: contest {cid} appears twice")
                elif not _is_count(size):
                    problems.append(f"roll.frozen: contest {cid} has no size")
                else:
                    if item.get("krets") != contest.krets:
                        problems.append(
                            f"roll.frozen: contest {cid} is not of krets {contest.krets}"
                        )
                    frozen[cid] = size
                listed.add(cid)
            missing = sorted(set(rec.contests) - set(listed), key=_contest_order)
            problems.extend(f"contest {cid}: not in the roll.frozen event" for cid in missing)
        elif kind == "roll.member_added" and not sealed:
            cid = require(data, "contest", str, "roll.member_added")
            voter = data.get("voter")
            if freezes == 0:
                problems.append(f"contest {cid}: a member was added before the roll was frozen")
            if cid not in rec.contests:
                problems.append(
                    f"roll.member_added: contest {cid} is not a contest of the manifest"
                )
            if not isinstance(voter, str):
                problems.append(f"contest {cid}: a roll.member_added event names no voter")
            elif voter in added_voters:
                problems.append(f"contest {cid}: voter {voter} is added to the roll twice")
            else:
                added_voters.add(voter)
            added[cid] += 1
    return (frozen if froze else None), added, problems


def _check_roll(rec: ElectionRecord, sealed: dict[str, dict[str, Any]]) -> Check:
    """The sealed roll sizes are the roll the log built: frozen size + members added after."""
    frozen, added, problems = _logged_roll(rec)
    for cid in sorted(rec.contests, key=_contest_order):
        roll = sealed.get(cid, {}).get("roll_size")
        if not _is_count(roll):
            problems.append(f"contest {cid}: the seal has no roll_size")
            continue
        at_freeze = (frozen or {}).get(cid, 0)
        expected = at_freeze + added[cid]
        if roll != expected:
            how = f"{at_freeze} at the freeze" if frozen is not None else "no roll.frozen event"
            problems.append(
                f"contest {cid}: the sealed roll size {roll} is not the logged roll's {expected} "
                f"({how} + {added[cid]} added before the seal)"
            )
    return _summary(
        "roll size matches the log",
        problems,
        "every contest's sealed roll size = its roll.frozen size + its roll.member_added events "
        f"before the seal ({added.total()} in all)",
    )


def _contest_order(cid: str) -> tuple[int, str]:
    return (int(cid), cid) if cid.isdigit() else (sys.maxsize, cid)


def _check_board_hashes(
    rec: ElectionRecord, sealed: dict[str, dict[str, Any]], hashes: dict[str, str | None]
) -> Check:
    problems = []
    for cid, ballots in rec.board.items():
        seal = sealed.get(cid)
        if seal is None:
            problems.append(f"contest {cid}: not in the board.sealed event")
            continue
        computed = hashes.get(cid, "")
        if computed == "":
            try:
                computed = board_hash(ballots)
            except (KeyError, TypeError):
                computed = None
        if computed is None:
            problems.append(f"contest {cid}: the board cannot be hashed")
            continue
        if computed != seal.get("board_hash"):
            problems.append(f"contest {cid}: the board hash {computed[:8]}… is not the sealed one")
    return _summary("board matches the seal", problems, "every contest's board hash is sealed")


def _each(counted: Counter[tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    """Every ballot's choices, as many times as they were cast (the count ignores order)."""
    return chain.from_iterable(repeat(choices, times) for choices, times in counted.items())


def _recount(
    rec: ElectionRecord,
    sealed: dict[str, dict[str, Any]],
    choices: dict[str, Counter[tuple[str, ...]]],
) -> dict[str, Any]:
    contests = []
    for cid in sorted(rec.contests, key=_contest_order):
        contest, seal = rec.contests[cid], sealed[cid]
        chosen = choices.get(cid, Counter())
        cast = sum(chosen.values())
        counted = count(
            _each(chosen),
            [c["id"] for c in contest.candidates],
            contest.rule.seats,
            contest.rule.substitutes,
            contest=cid,
            key=lottery_key(seal["board_hash"], rec.seed),
        )
        contests.append(
            {
                **counted,
                "krets": contest.krets,
                "board_hash": seal["board_hash"],
                "ballots_cast": cast,
                "signatures_issued": seal["signatures_issued"],
                "roll_size": seal["roll_size"],
                "turnout": turnout(cast, seal["roll_size"]),
            }
        )
    return {"version": 1, "election": rec.slug, "seed": rec.seed, "contests": contests}


def _difference(published: Any, recount: dict[str, Any]) -> str:
    """Name the first field where the published result differs from the recount."""
    for key in sorted(set(published) | set(recount)):
        if key == "contests":
            continue
        if published.get(key) != recount.get(key):
            return f"the published {key} differs from the recount"
    theirs = published.get("contests")
    if not isinstance(theirs, list) or len(theirs) != len(recount["contests"]):
        return "the published results have another list of contests"
    for pub, mine in zip(theirs, recount["contests"], strict=True):
        if not isinstance(pub, dict):
            return "a published contest is not an object"
        for key in sorted(set(pub) | set(mine)):
            if canonical_json(pub.get(key)) != canonical_json(mine.get(key)):
                return (
                    f"contest {mine['contest']}: the published {key} {json.dumps(pub.get(key))} "
                    f"is not the recount's {json.dumps(mine.get(key))}"
                )
    return "the published results are not in canonical form"


def _check_recount(
    rec: ElectionRecord,
    sealed: dict[str, dict[str, Any]],
    choices: dict[str, Counter[tuple[str, ...]]],
) -> list[Check]:
    checks = []
    try:
        recount = _recount(rec, sealed, choices)
    except (TallyError, KeyError, TypeError) as exc:
        checks.append(Check("recount", False, f"the recount fails: {exc}"))
    else:
        if result_bytes(recount) == result_bytes(rec.results):
            checks.append(Check("recount", True, "the recount equals the published results"))
        else:
            checks.append(Check("recount", False, _difference(rec.results, recount)))
    problems = []
    counted = one_event(rec, "tally.counted")
    if counted.get("results_hash") != result_hash(rec.results):
        problems.append("the results do not hash to the tally.counted event's results_hash")
    if counted.get("seed") != rec.seed:
        problems.append("the tally seed is not the one in the tally.counted event")
    return checks + [
        _summary("results hash", problems, "the results hash to the logged results_hash")
    ]


def _guarded(name: str, check: Callable[[], list[Check]]) -> list[Check]:
    """Run a check; a malformed record fails that check instead of crashing the verifier."""
    try:
        return check()
    except (RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return [Check(name, False, f"malformed record: {exc}")]


def verify_record(
    record: Any, *, expected_fingerprint: str | None = None, workers: int | None = None
) -> list[Check]:
    """Every check of the election record; it is valid only if every Check is ok."""
    try:
        rec = read_record(record)
    except RecordError as exc:
        return [Check("record format", False, str(exc))]
    rec.events = events_by_type(rec.entries)
    checks = [Check("record format", True, f"{FORMAT} version {VERSION}, election {rec.slug}")]
    checks += _guarded("log chain", lambda: [_check_chain(rec)])
    checks += _guarded("log key", lambda: [_check_log_key(rec, expected_fingerprint)])
    checks += _guarded("checkpoints", lambda: [_check_checkpoints(rec)])
    checks += _guarded("candidate lists and keys", lambda: [_check_candidate_lists(rec)])
    ballot_checks, choices, board_hashes = _check_ballots(rec, workers)
    checks += ballot_checks
    try:
        sealed = sealed_contests(rec)
    except (RecordError, KeyError, TypeError) as exc:
        return [*checks, Check("board matches the seal", False, f"malformed record: {exc}")]
    checks += _guarded("ballots ≤ signatures ≤ roll", lambda: [_check_counts(rec, sealed)])
    checks += _guarded("roll size matches the log", lambda: [_check_roll(rec, sealed)])
    checks += _guarded(
        "board matches the seal", lambda: [_check_board_hashes(rec, sealed, board_hashes)]
    )
    checks += _guarded("recount", lambda: _check_recount(rec, sealed, choices))
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    """The ``verify-election`` console script; exit 0 only if every check passes."""
    parser = argparse.ArgumentParser(
        prog="verify-election", description="Check an election record offline."
    )
    parser.add_argument("record", help="the election record (JSON), or - for standard input")
    parser.add_argument(
        "--log-key", metavar="FINGERPRINT", help="the log key's printed fingerprint"
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    # Why: parsing a large record makes millions of objects and no garbage cycles, and the
    # collector would walk them all again and again; frozen, the forked workers leave them be.
    gc.disable()
    try:
        if args.record == "-":
            text = sys.stdin.read()
        else:
            with open(args.record, encoding="utf-8") as handle:
                text = handle.read()
        record = json.loads(text)
    except (OSError, ValueError) as exc:
        print(f"verify-election: cannot read {args.record}: {exc}", file=sys.stderr)
        return 2
    finally:
        gc.enable()
    del text
    gc.freeze()
    checks = verify_record(record, expected_fingerprint=args.log_key, workers=args.workers)
    ok = all(c.ok for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
    else:
        for c in checks:
            print(f"{'✓' if c.ok else '✗'} {c.name}: {c.detail}")
        print("The record verifies." if ok else "THE RECORD DOES NOT VERIFY.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
