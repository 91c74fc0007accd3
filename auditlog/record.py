"""The election record's format, version 1: reading it into typed parts (docs/election-record.md).

Pure: the standard library and ``ballots`` only, so that the offline verifier can use it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ballots.rules import SelectionRule, SelectionRuleError

__all__ = [
    "FORMAT",
    "VERSION",
    "ElectionRecord",
    "RecordContest",
    "RecordError",
    "b64_field",
    "events_by_type",
    "one_event",
    "read_record",
    "require",
    "sealed_contests",
]

FORMAT = "kongressval-election-record"
VERSION = 1


class RecordError(ValueError):
    """The record is not in the documented format; the message names the field."""


@dataclass(frozen=True)
class RecordContest:
    """One contest of the manifest, read and checked for types."""

    id: str
    krets: str
    rule: SelectionRule
    list_hash: str
    candidates: list[dict[str, Any]]
    spki: bytes
    jwk: Any
    key_bits: Any


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
    board_krets: dict[str, Any]
    counts: dict[str, dict[str, Any]]
    seed: str
    results: Any
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


# --- Reading the record ------------------------------------------------------------------


def require(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` if present with type ``kind``; RecordError naming ``where.key`` if not."""
    if not isinstance(obj, dict) or key not in obj:
        raise RecordError(f"{where}.{key}: missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecordError(f"{where}.{key}: has the wrong type")
    return value


def b64_field(text: str, where: str) -> bytes:
    """Strict standard base64; RecordError naming ``where`` if it is not."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(f"{where}: not base64") from None


def _read_contest(item: Any, where: str) -> RecordContest:
    cid = require(item, "id", str, where)
    krets = require(require(item, "krets", dict, where), "code", str, f"{where}.krets")
    try:
        rule = SelectionRule(
            seats=require(item, "seats", int, where),
            min_selections=require(item, "min_selections", int, where),
            max_selections=require(item, "max_selections", int, where),
            substitutes=require(item, "substitutes", int, where),
        )
        rule.check()
    except SelectionRuleError as exc:
        raise RecordError(f"{where}: {exc}") from None
    candidates = require(item, "candidates", list, where)
    for index, candidate in enumerate(candidates):
        require(candidate, "id", str, f"{where}.candidates[{index}]")
    list_hash = item.get("list_hash")
    spki = item.get("public_key_spki")
    return RecordContest(
        id=cid,
        krets=krets,
        rule=rule,
        list_hash=list_hash if isinstance(list_hash, str) else "",
        candidates=candidates,
        spki=b64_field(spki, f"{where}.public_key_spki") if isinstance(spki, str) else b"",
        jwk=item.get("public_key_jwk"),
        key_bits=item.get("key_bits"),
    )


def read_record(record: Any) -> ElectionRecord:
    """Check the record's shape and types and read it; RecordError naming the first bad field."""
    if not isinstance(record, dict):
        raise RecordError("the record is not a JSON object")
    if record.get("format") != FORMAT:
        raise RecordError(f"format: not {FORMAT!r}")
    if record.get("version") != VERSION:
        raise RecordError(f"version: this verifier reads version {VERSION}")
    slug = require(record, "election", str, "record")
    manifest = require(record, "manifest", dict, "record")
    if manifest.get("election") != slug:
        raise RecordError("manifest.election: not the record's election")
    contests: dict[str, RecordContest] = {}
    for index, item in enumerate(require(manifest, "contests", list, "manifest")):
        contest = _read_contest(item, f"manifest.contests[{index}]")
        if contest.id in contests:
            raise RecordError(f"manifest.contests: contest {contest.id} appears twice")
        contests[contest.id] = contest
    log = require(record, "log", dict, "record")
    entries = require(log, "entries", list, "log")
    if not all(isinstance(e, str) for e in entries):
        raise RecordError("log.entries: every entry must be a string")
    checkpoints = require(log, "checkpoints", list, "log")
    for index, cp in enumerate(checkpoints):
        require(cp, "body", str, f"log.checkpoints[{index}]")
        require(cp, "signature", str, f"log.checkpoints[{index}]")
    board: dict[str, list[Any]] = {}
    board_krets: dict[str, Any] = {}
    for index, item in enumerate(require(record, "board", list, "record")):
        cid = require(item, "contest", str, f"board[{index}]")
        if cid in board:
            raise RecordError(f"board: contest {cid} appears twice")
        board_krets[cid] = item.get("krets")
        board[cid] = require(item, "ballots", list, f"board[{index}]")
    counts: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(require(record, "contests", list, "record")):
        cid = require(item, "contest", str, f"contests[{index}]")
        require(item, "signatures_issued", int, f"contests[{index}]")
        require(item, "roll_size", int, f"contests[{index}]")
        counts[cid] = item
    tally = require(record, "tally", dict, "record")
    return ElectionRecord(
        slug=slug,
        manifest=manifest,
        contests=contests,
        entries=entries,
        checkpoints=checkpoints,
        log_key=b64_field(require(log, "public_key", str, "log"), "log.public_key"),
        log_key_fingerprint=require(log, "fingerprint", str, "log"),
        board=board,
        board_krets=board_krets,
        counts=counts,
        seed=require(tally, "seed", str, "tally"),
        results=require(tally, "results", dict, "tally"),
    )


def events_by_type(entries: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The data of each event, by type; entries that are not JSON objects are skipped."""
    found: dict[str, list[dict[str, Any]]] = {}
    for body in entries:
        try:
            fields = json.loads(body)
        except ValueError:
            continue
        if isinstance(fields, dict) and isinstance(fields.get("data"), dict):
            found.setdefault(str(fields.get("type")), []).append(fields["data"])
    return found


def one_event(rec: ElectionRecord, event_type: str) -> dict[str, Any]:
    """The data of the one event of ``event_type``; RecordError unless there is exactly one."""
    found = rec.events.get(event_type, [])
    if len(found) != 1:
        raise RecordError(f"the log holds {len(found)} {event_type} events, not exactly one")
    return found[0]


def sealed_contests(rec: ElectionRecord) -> dict[str, dict[str, Any]]:
    """The ``board.sealed`` event's data per contest id."""
    data = one_event(rec, "board.sealed")
    sealed: dict[str, dict[str, Any]] = {}
    for item in require(data, "contests", list, "board.sealed"):
        sealed[require(item, "contest", str, "board.sealed.contests")] = item
    return sealed
