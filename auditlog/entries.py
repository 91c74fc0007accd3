"""Canonical log entries and their hash chain (docs/election-record.md, "Log entries").

An entry is the canonical JSON of exactly ``{"data": {...}, "prev": <hex leaf hash of the entry
before>, "seq": n, "time": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "type": "..."}``. Its leaf hash is
SHA-256(0x00 || entry bytes), the RFC 9162 leaf hash, so the same hashes later feed the Merkle
tree of the signed checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
"""The ``prev`` of the first entry of a log."""

ENTRY_KEYS = frozenset({"data", "prev", "seq", "time", "type"})
# Event types are ASCII, lower case, dot-separated words: "board.sealed", "scheduler.job_ran".
EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class ChainError(ValueError):
    """An entry is malformed or does not follow the one before it."""


class NotCanonical(ValueError):
    """A value cannot be written as canonical JSON (a float, a key that is not a string...)."""


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` as canonical JSON: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def leaf_hash(entry: bytes) -> str:
    """Hex RFC 9162 leaf hash of the stored entry bytes."""
    return hashlib.sha256(b"\x00" + entry).hexdigest()


def format_time(moment: datetime) -> str:
    """UTC ISO 8601 with a ``Z`` suffix, at microsecond precision."""
    if moment.tzinfo is None:
        raise ValueError("log times must be timezone-aware")
    text = moment.astimezone(UTC).strftime(TIME_FORMAT)
    if not TIME_RE.fullmatch(text):
        raise ValueError(f"log time {text!r} is not of the documented form")
    return text


def valid_time(text: Any) -> bool:
    """Whether ``text`` is a log entry's time: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, a real UTC time."""
    if not isinstance(text, str) or not TIME_RE.fullmatch(text):
        return False
    try:
        datetime.strptime(text, TIME_FORMAT)  # noqa: DTZ007 - the Z is matched literally
    except ValueError:
        return False
    return True


def plain_json_problem(value: Any, where: str = "data") -> str | None:
    """Where ``value`` holds something other than objects with string keys, lists, strings,
    integers, booleans and null (the JSON the log allows: no floats); None if nowhere."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        place, item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return f"{place}: the key {key!r} is not a string"
                stack.append((f"{place}.{key}", inner))
        elif isinstance(item, list | tuple):
            stack.extend((f"{place}[{i}]", inner) for i, inner in enumerate(item))
        elif item is not None and not isinstance(item, str | int):
            return f"{place}: {type(item).__name__} values are not allowed (integers only)"
    return None


@dataclass(frozen=True)
class Entry:
    """One stored log entry: its exact bytes and their leaf hash."""

    seq: int
    body: bytes
    hash: str

    @property
    def fields(self) -> dict[str, Any]:
        """The decoded entry."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


def make_entry(
    seq: int, prev: str, event_type: str, data: Mapping[str, Any], moment: datetime
) -> Entry:
    """Build the canonical entry that follows ``prev`` at position ``seq``."""
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.fullmatch(event_type):
        raise ValueError(f"bad event type {event_type!r}")
    # Why: the record's format allows integers only; a float has no single canonical spelling
    # that every verifier's JSON library agrees on.
    problem = plain_json_problem(dict(data))
    if problem is not None:
        raise NotCanonical(problem)
    body = canonical_json(
        {
            "data": dict(data),
            "prev": prev,
            "seq": seq,
            "time": format_time(moment),
            "type": event_type,
        }
    )
    return Entry(seq=seq, body=body, hash=leaf_hash(body))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ChainError("a key appears twice")
    return result


def _no_float(text: str) -> Any:
    raise ChainError(f"the number {text} is not an integer")


def _no_constant(text: str) -> Any:
    raise ChainError(f"{text} is not JSON")


def parse_entry(body: bytes, index: int) -> dict[str, Any]:
    """The fields of a canonical, well-formed entry; ChainError naming the entry if it is not.

    Well-formed: JSON without repeated keys or non-integer numbers, exactly the keys data, prev,
    seq, time and type, of the documented types and forms, and written in canonical form.
    """
    try:
        fields = json.loads(
            body,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except ChainError as exc:
        raise ChainError(f"entry {index}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ChainError(f"entry {index}: not JSON ({exc})") from None
    if not isinstance(fields, dict):
        raise ChainError(f"entry {index}: not a JSON object")
    if fields.keys() != ENTRY_KEYS:
        extra = sorted(fields.keys() - ENTRY_KEYS)
        missing = sorted(ENTRY_KEYS - fields.keys())
        raise ChainError(
            f"entry {index}: has keys {sorted(fields)}, not exactly {sorted(ENTRY_KEYS)}"
            + (f" (extra {extra})" if extra else "")
            + (f" (missing {missing})" if missing else "")
        )
    if not isinstance(fields["data"], dict):
        raise ChainError(f"entry {index}: data is not a JSON object")
    seq = fields["seq"]
    # Why type() is int: JSON true would compare equal to 1.
    if type(seq) is not int:
        raise ChainError(f"entry {index}: seq {json.dumps(seq)} is not an integer")
    if not isinstance(fields["type"], str) or not EVENT_TYPE_RE.fullmatch(fields["type"]):
        raise ChainError(f"entry {index}: type {json.dumps(fields['type'])} is not an event type")
    if not valid_time(fields["time"]):
        raise ChainError(
            f"entry {index}: time {fields['time']!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"
        )
    if canonical_json(fields) != body:
        raise ChainError(f"entry {index}: not canonical JSON")
    return fields


def verify_chain(bodies: Iterable[bytes]) -> list[Entry]:
    """Check that the entries are well-formed, canonical, numbered from 0 and chained."""
    entries: list[Entry] = []
    prev = GENESIS_HASH
    for index, body in enumerate(bodies):
        fields = parse_entry(body, index)
        if fields["seq"] != index:
            raise ChainError(f"entry {index}: has seq {fields['seq']!r}")
        if fields["prev"] != prev:
            raise ChainError(f"entry {index}: prev does not match the hash of entry {index - 1}")
        entry = Entry(seq=index, body=body, hash=leaf_hash(body))
        entries.append(entry)
        prev = entry.hash
    return entries
