"""The personal voting code of a letter: its form, and the keyed hash that is all we store.

A letter code is a voter link that a member types instead of clicks (``VoterLink.kind``
``letter``). Its symbols are the voter codes' (``auditlog.votercodes.ALPHABET``: no 0/O, 1/I/L
or U), so nothing in it can be misread; 16 of them in four groups of four, about 78 bits.
SECURITY.md ("Voting letters") has the guessing figures.
"""

from __future__ import annotations

import re
import secrets

from auditlog.votercodes import ALPHABET
from voting.crypto import keyed_hash

GROUP = 4
LENGTH = 16
CODE_RE = re.compile("-".join([f"[{ALPHABET}]{{{GROUP}}}"] * (LENGTH // GROUP)))
"""A letter code as printed: ``K7QF-3MXR-9TAB-H2PW``."""
HASH_PURPOSE = "letter-code"
# Dashes and spaces a member may type or paste between the groups.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212_.]+")


def format_code(symbols: str) -> str:
    """``symbols`` (16 of ALPHABET) in their printed groups of four."""
    return "-".join(symbols[i : i + GROUP] for i in range(0, len(symbols), GROUP))


def new_code() -> str:
    """A fresh random letter code."""
    # Why secrets: one member's code must say nothing about another's.
    return format_code("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))


def normalize(text: str) -> str | None:
    """A typed code in its printed form, or None: case, spaces and dashes are forgiven."""
    symbols = _SEPARATORS.sub("", text).upper()
    if len(symbols) != LENGTH or any(ch not in ALPHABET for ch in symbols):
        return None
    return format_code(symbols)


def code_hash(code: str, data_key: str | None = None) -> str:
    """What ``voter_link.token_hash`` holds for a letter code (in its printed form).

    Why keyed, where a link token's hash is plain SHA-256: 78 bits could be searched offline by
    whoever copies the database; without DATA_KEY the hashes are useless to them.
    """
    return keyed_hash(code, HASH_PURPOSE, data_key)
