"""Canonical log entries and their hash chain.

An entry is the canonical JSON (sorted keys, no whitespace, UTF-8) of ``{"data": ...,
"prev": <hex leaf hash of the entry before>, "seq": n, "time": "...Z", "type": "..."}``.
Its leaf hash is SHA-256(0x00 || entry bytes), the RFC 9162 leaf hash, so the same
hashes later feed the Merkle tree of the signed checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
"""The ``prev`` of the first entry of a log."""


class ChainError(ValueError):
    """An entry does not follow the one before it."""


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
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    if not event_type or not event_type.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"bad event type {event_type!r}")
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


def verify_chain(bodies: Iterable[bytes]) -> list[Entry]:
    """Check that the entries are canonical, numbered from 0 and each names its predecessor."""
    entries: list[Entry] = []
    prev = GENESIS_HASH
    for index, body in enumerate(bodies):
        try:
            fields = json.loads(body)
        except ValueError as exc:
            raise ChainError(f"entry {index}: not JSON ({exc})") from exc
        if not isinstance(fields, dict) or canonical_json(fields) != body:
            raise ChainError(f"entry {index}: not canonical JSON")
        if fields.get("seq") != index:
            raise ChainError(f"entry {index}: has seq {fields.get('seq')!r}")
        if fields.get("prev") != prev:
            raise ChainError(f"entry {index}: prev does not match the hash of entry {index - 1}")
        entry = Entry(seq=index, body=body, hash=leaf_hash(body))
        entries.append(entry)
        prev = entry.hash
    return entries
