"""Voter codes: their form, and the salted commitment the log makes to a contest's roll of them.

docs/election-record.md ("Voter codes") is the specification. A voter code is a random label of
one roll entry, public in the record's lists; only the server knows which member holds which.
Pure: the standard library and ``auditlog.entries`` only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from auditlog.entries import canonical_json

__all__ = [
    "ALPHABET",
    "CODE_RE",
    "GROUPS",
    "LENGTH",
    "SALT_RE",
    "codes_hash",
    "format_code",
    "list_hash",
    "normalize_code",
]

# Crockford's base32 digits without 0, 1 (read as O, I, L) and I, L, O, U: 30 symbols that no
# handwriting, font or ear confuses with each other.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = (4, 4, 2)
LENGTH = sum(GROUPS)
_SYMBOL = "[2-9A-HJKMNP-TV-Z]"
CODE_RE = re.compile("-".join(f"{_SYMBOL}{{{n}}}" for n in GROUPS))
"""A voter code as written everywhere: ``K7QF-3MXR-9T``."""
SALT_RE = re.compile(r"[0-9a-f]{64}")

# Dashes and spaces a member may type or paste between the groups.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")


def format_code(symbols: str) -> str:
    """The ``LENGTH`` symbols of a code, grouped with hyphens as the code is written."""
    if len(symbols) != LENGTH or any(c not in ALPHABET for c in symbols):
        raise ValueError(f"a voter code is {LENGTH} symbols of {ALPHABET}")
    parts, start = [], 0
    for size in GROUPS:
        parts.append(symbols[start : start + size])
        start += size
    return "-".join(parts)


def normalize_code(text: str) -> str | None:
    """A typed code in its written form (case, spaces and dashes forgiven); None if it is none."""
    symbols = _SEPARATORS.sub("", text).upper()
    try:
        return format_code(symbols)
    except ValueError:
        return None


def codes_hash(codes: Sequence[str], salt: str) -> str:
    """The commitment to a contest's roll: hex SHA-256 of the canonical JSON of
    ``{"codes": codes, "salt": salt}``, ``codes`` sorted, ``salt`` 64 lowercase hex digits.

    Why a salt: the log commits to the roll at the freeze and at each addition, but the record
    opens only the last commitment. Unsalted, an earlier one would single out each added code
    (try the final list without each code in turn), tying it to its addition's time and pseudonym.
    """
    return hashlib.sha256(canonical_json({"codes": list(codes), "salt": salt})).hexdigest()


def list_hash(codes: Sequence[str]) -> str:
    """Hex SHA-256 of the canonical JSON of a list of codes (the seal's ``issued_codes_hash``)."""
    return hashlib.sha256(canonical_json(list(codes))).hexdigest()
