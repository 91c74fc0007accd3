"""The public ballot board of one contest and its hash, as sealed into the log at the close."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

BOARD_FIELDS = ("ballot", "ballot_hash", "msg_prefix", "signature")


def sorted_board(ballots: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The board entries with exactly the board fields, sorted by ballot hash."""
    entries = [{field: str(b[field]) for field in BOARD_FIELDS} for b in ballots]
    return sorted(entries, key=lambda e: e["ballot_hash"])


def board_hash(ballots: Iterable[Mapping[str, Any]]) -> str:
    """Hex SHA-256 of the canonical JSON of the sorted board: anyone can recompute it."""
    data = json.dumps(
        sorted_board(ballots), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    return hashlib.sha256(data).hexdigest()
