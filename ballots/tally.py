"""Counting one contest: votes, the elected, the ersättare in order, and the lot for ties.

Pure and deterministic: the same ballots, candidates, board hash and seed give the same result,
byte for byte, in any order of the ballots. See docs/tally.md for the rules and how to redo
the lottery by hand with ``sha256sum``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "LOTTERY_DOMAIN",
    "RESULT_VERSION",
    "SEED_MAX_LENGTH",
    "SEED_SPACES",
    "TallyError",
    "count",
    "lottery_key",
    "result_bytes",
    "result_hash",
    "seed_problem",
    "ticket",
    "turnout",
]

LOTTERY_DOMAIN = b"kongressval-lottery-v1"
RESULT_VERSION = 1
SEED_MAX_LENGTH = 200
# The characters from U+0020 up that Python's str.isspace() counts as whitespace: a seed of
# only these (and no control characters, which are refused anyway) is empty once stripped.
SEED_SPACES = frozenset(
    "\u0020\u0085\u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_HEX = frozenset("0123456789abcdef")


class TallyError(ValueError):
    """The input to a count is not countable; the message names the field."""


def _no_nul(value: str, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise TallyError(f"{field}: must be a non-empty string")
    # Why: 0x00 separates the fields hashed by the lottery; a field holding one could make
    # two different inputs hash the same bytes.
    if "\x00" in value:
        raise TallyError(f"{field}: must not contain a NUL character")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise TallyError(f"{field}: not valid Unicode text") from None


def seed_problem(seed: object) -> str | None:
    """Why ``seed`` cannot be a tally seed, or None: 1 to 200 characters, none of them a
    control character (below U+0020), not all of them spaces (``SEED_SPACES``)."""
    if not isinstance(seed, str) or not seed:
        return "the seed is empty"
    if len(seed) > SEED_MAX_LENGTH:
        return f"the seed has {len(seed)} characters, more than {SEED_MAX_LENGTH}"
    control = next((ch for ch in seed if ord(ch) < 0x20), None)
    if control is not None:
        return f"the seed holds the control character U+{ord(control):04X}"
    if all(ch in SEED_SPACES for ch in seed):
        return "the seed holds only spaces"
    return None


def lottery_key(board_hash: str, seed: str) -> str:
    """Hex SHA-256("kongressval-lottery-v1" 0x00 board_hash 0x00 seed): a contest's lot key."""
    if not isinstance(board_hash, str) or len(board_hash) != 64 or not set(board_hash) <= _HEX:
        raise TallyError("board_hash: must be 64 lowercase hex digits")
    seed_bytes = _no_nul(seed, "seed")
    # Why both: the board hash is fixed before the seed is drawn and the seed is drawn after the
    # close, so neither the server nor the committee can steer the lot alone.
    data = LOTTERY_DOMAIN + b"\x00" + board_hash.encode("ascii") + b"\x00" + seed_bytes
    return hashlib.sha256(data).hexdigest()


def ticket(key: str, contest: str, candidate: str) -> str:
    """Hex SHA-256(key_hex 0x00 contest 0x00 candidate): the candidate's lottery ticket."""
    if not isinstance(key, str) or len(key) != 64 or not set(key) <= _HEX:
        raise TallyError("lottery key: must be 64 lowercase hex digits")
    data = (
        key.encode("ascii")
        + b"\x00"
        + _no_nul(contest, "contest")
        + b"\x00"
        + _no_nul(candidate, "candidate")
    )
    return hashlib.sha256(data).hexdigest()


def _whole(value: int, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TallyError(f"{field}: must be a whole number of at least {minimum}")
    return value


def _place(position: int, seats: int, substitutes: int) -> str:
    """What the 0-based ranking position gets: a seat, an ersättare rank, or nothing."""
    if position < seats:
        return "elected"
    if position < seats + substitutes:
        return f"ersattare {position - seats + 1}"
    return "none"


def count(
    ballots: Iterable[Iterable[str]],
    candidates: Sequence[str],
    seats: int,
    substitutes: int,
    *,
    contest: str,
    key: str,
) -> dict[str, Any]:
    """Count a contest's ballots (each the candidate ids it marks) into a canonical result.

    Every candidate is ranked by votes, most first; equal votes are ordered by lottery ticket,
    lowest first, so the ranking is total. A tie is recorded as decided by lot only where it
    changes who gets a seat or an ersättare place.
    """
    _whole(seats, "seats", 1)
    _whole(substitutes, "substitutes", 0)
    _no_nul(contest, "contest")
    if isinstance(candidates, str):
        raise TallyError("candidates: must be a list of candidate ids")
    for candidate in candidates:
        _no_nul(candidate, "candidate")
    if len(set(candidates)) != len(candidates):
        raise TallyError("candidates: a candidate is listed twice")
    votes = dict.fromkeys(candidates, 0)
    counted = 0
    for choices in ballots:
        if isinstance(choices, str):
            raise TallyError("ballot: must be a list of candidate ids, not a string")
        marked = list(choices)
        if len(set(marked)) != len(marked):
            raise TallyError("ballot: a candidate is marked twice")
        for choice in marked:
            if choice not in votes:
                raise TallyError(f"ballot: {choice!r} is not a candidate of this contest")
            votes[choice] += 1
        counted += 1
    tickets = {c: ticket(key, contest, c) for c in candidates}
    ranking = sorted(candidates, key=lambda c: (-votes[c], tickets[c]))
    ties = []
    start = 0
    while start < len(ranking):
        end = start
        while end < len(ranking) and votes[ranking[end]] == votes[ranking[start]]:
            end += 1
        places = [_place(p, seats, substitutes) for p in range(start, end)]
        # A tie matters only when its members' positions lead to different places.
        if end - start > 1 and len(set(places)) > 1:
            ties.append(
                {
                    "votes": votes[ranking[start]],
                    "order": [
                        {"candidate": c, "ticket": tickets[c], "place": place}
                        for c, place in zip(ranking[start:end], places, strict=True)
                    ],
                }
            )
        start = end
    return {
        "contest": contest,
        "seats": seats,
        "substitutes": substitutes,
        "ballots_counted": counted,
        "lottery_key": key,
        "votes": votes,
        "ranking": ranking,
        "elected": ranking[:seats],
        "ersattare": ranking[seats : seats + substitutes],
        "ties": ties,
    }


def turnout(ballots: int, roll_size: int) -> str:
    """Ballots as a percentage of the roll, one decimal, rounded half up: "42.0"."""
    _whole(ballots, "ballots", 0)
    _whole(roll_size, "roll_size", 0)
    if roll_size == 0:
        return "0.0"
    # Exact integer arithmetic, so every verifier rounds alike.
    tenths = (2 * 1000 * ballots + roll_size) // (2 * roll_size)
    return f"{tenths // 10}.{tenths % 10}"


def result_bytes(result: Any) -> bytes:
    """Canonical JSON of a result: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        result, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def result_hash(result: Any) -> str:
    """Hex SHA-256 of the result's canonical JSON."""
    return hashlib.sha256(result_bytes(result)).hexdigest()
