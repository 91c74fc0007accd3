"""The canonical ballot: the exact bytes RFC 9474 signs, and the strict parser the server uses.

A ballot is the UTF-8 of ``{"choices":[...],"contest":"...","election":"...","nonce":"...","v":1}``
with sorted keys, no whitespace, no ASCII escaping of non-ASCII characters, and the choices
sorted by Unicode code point (which is UTF-8 byte order). Anything else is refused: one ballot
has exactly one byte form, so its hash and its signature identify it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from typing import Any

from ballots.errors import InvalidBallot, InvalidEncoding
from ballots.rules import SelectionRule

__all__ = [
    "BALLOT_VERSION",
    "MAX_BALLOT_LENGTH",
    "NONCE_LENGTH",
    "ParsedBallot",
    "b64url_decode",
    "b64url_encode",
    "ballot_hash",
    "ballot_input_msg",
    "canonical_ballot",
    "new_nonce",
    "parse_ballot",
]

BALLOT_VERSION = 1
NONCE_LENGTH = 16  # random bytes in a nonce; 22 base64url characters
PREFIX_LENGTH = 32  # RFC 9474 msg_prefix; equals blindrsa.PREFIX_LENGTH
# Why: a ballot is a few hundred bytes; refusing megabytes before json.loads bounds the work an
# anonymous caller can make the server do.
MAX_BALLOT_LENGTH = 65536
_KEYS = frozenset({"choices", "contest", "election", "nonce", "v"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 section 5) of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, field: str = "value", length: int | None = None) -> bytes:
    """Strictly decode unpadded base64url; refuse padding, other alphabets and stray bits."""
    if not isinstance(text, str):
        raise InvalidEncoding(f"{field}: must be a base64url string")
    # Why strict: a lenient decoder gives one value many spellings, which breaks "identical
    # submission" checks and lets a token or signature be replayed under another spelling.
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise InvalidEncoding(f"{field}: must be unpadded base64url (A-Z, a-z, 0-9, '-', '_')")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidEncoding(f"{field}: must be unpadded base64url") from None
    if b64url_encode(data) != text:
        raise InvalidEncoding(f"{field}: non-canonical base64url (stray trailing bits)")
    if length is not None and len(data) != length:
        raise InvalidEncoding(f"{field}: must decode to exactly {length} bytes, not {len(data)}")
    return data


def new_nonce(rng: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh ballot nonce: 16 random bytes, unpadded base64url."""
    # Why: the nonce makes two ballots with the same choices different bytes, so the board's
    # hashes do not show how many voters chose alike while voting is open.
    data = rng(NONCE_LENGTH)
    if not isinstance(data, bytes) or len(data) != NONCE_LENGTH:
        raise InvalidBallot(f"nonce: the random source must return {NONCE_LENGTH} bytes")
    return b64url_encode(data)


@dataclass(frozen=True)
class ParsedBallot:
    """A ballot that passed every check: its fields, choices sorted."""

    election: str
    contest: str
    choices: tuple[str, ...]
    nonce: str

    def canonical(self) -> str:
        """The ballot's one canonical text."""
        return canonical_ballot(self.election, self.contest, list(self.choices), self.nonce)


def _check_utf8(value: str, field: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidBallot(f"{field}: not valid Unicode text", code="ballot_not_utf8") from None


def canonical_ballot(election: str, contest: str, choices: Sequence[str], nonce: str) -> str:
    """The canonical ballot text for these fields; the choices are sorted here."""
    for field, value in (("election", election), ("contest", contest), ("nonce", nonce)):
        if not isinstance(value, str):
            raise InvalidBallot(f"{field}: must be a string", code="ballot_field_type")
        _check_utf8(value, field)
    if isinstance(choices, str) or not all(isinstance(choice, str) for choice in choices):
        raise InvalidBallot(
            "choices: must be a list of candidate id strings", code="ballot_choice_type"
        )
    for choice in choices:
        _check_utf8(choice, "choices")
    if len(set(choices)) != len(choices):
        raise InvalidBallot("choices: a candidate is named twice", code="ballot_duplicate_choice")
    try:
        b64url_decode(nonce, field="nonce", length=NONCE_LENGTH)
    except InvalidEncoding as exc:
        raise InvalidBallot(exc.message, code="ballot_nonce") from None
    body = {
        "choices": sorted(choices),
        "contest": contest,
        "election": election,
        "nonce": nonce,
        "v": BALLOT_VERSION,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _DuplicateKey(ValueError):
    pass


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _string_field(data: dict[str, Any], field: str, expected: str) -> str:
    value = data[field]
    if not isinstance(value, str):
        raise InvalidBallot(f"{field}: must be a string", code="ballot_field_type")
    if value != expected:
        raise InvalidBallot(
            f"{field}: the ballot is for {value!r}, not {expected!r}", code=f"ballot_wrong_{field}"
        )
    return value


def parse_ballot(
    text: str,
    *,
    election: str,
    contest: str,
    candidate_ids: Set[str],
    rule: SelectionRule,
) -> ParsedBallot:
    """Parse a ballot for this contest; InvalidBallot unless it is canonical and valid."""
    if not isinstance(text, str):
        raise InvalidBallot("ballot: must be a string", code="ballot_type")
    if len(text) > MAX_BALLOT_LENGTH:
        raise InvalidBallot(
            f"ballot: longer than {MAX_BALLOT_LENGTH} characters", code="ballot_too_long"
        )
    try:
        data = json.loads(
            text, object_pairs_hook=_pairs_without_duplicates, parse_constant=_refuse_constant
        )
    except _DuplicateKey as exc:
        raise InvalidBallot(f"ballot: the key {exc} appears twice", code="ballot_keys") from None
    except (ValueError, RecursionError):
        raise InvalidBallot("ballot: not a JSON text", code="ballot_not_json") from None
    if not isinstance(data, dict):
        raise InvalidBallot("ballot: must be a JSON object", code="ballot_not_object")
    if set(data) != _KEYS:
        missing = sorted(_KEYS - set(data))
        extra = sorted(set(data) - _KEYS)
        raise InvalidBallot(
            f"ballot: missing keys {missing}, unexpected keys {extra}", code="ballot_keys"
        )
    version = data["v"]
    # Why type(...) is int: json gives True for true, and True == 1 in Python.
    if type(version) is not int or version != BALLOT_VERSION:
        raise InvalidBallot(f"v: must be {BALLOT_VERSION}", code="ballot_version")
    _string_field(data, "election", election)
    _string_field(data, "contest", contest)
    nonce = data["nonce"]
    try:
        b64url_decode(nonce, field="nonce", length=NONCE_LENGTH)
    except InvalidEncoding as exc:
        raise InvalidBallot(exc.message, code="ballot_nonce") from None
    choices = data["choices"]
    if not isinstance(choices, list) or not all(isinstance(choice, str) for choice in choices):
        raise InvalidBallot(
            "choices: must be a list of candidate id strings", code="ballot_choice_type"
        )
    if len(set(choices)) != len(choices):
        raise InvalidBallot("choices: a candidate is named twice", code="ballot_duplicate_choice")
    if choices != sorted(choices):
        raise InvalidBallot("choices: must be sorted", code="ballot_unsorted_choices")
    unknown = [choice for choice in choices if choice not in candidate_ids]
    if unknown:
        raise InvalidBallot(
            f"choices: not a candidate of this contest: {unknown[0]!r}",
            code="ballot_unknown_candidate",
        )
    if not rule.allows(len(choices)):
        wanted = (
            str(rule.min_selections)
            if rule.min_selections == rule.max_selections
            else f"{rule.min_selections} to {rule.max_selections}"
        )
        raise InvalidBallot(
            f"choices: {len(choices)} names marked, {wanted} wanted", code="ballot_selection_count"
        )
    canonical = canonical_ballot(election, contest, choices, nonce)
    # Why: hash and signature cover the bytes as sent, so only the one canonical spelling may
    # pass; this also catches whitespace, key order and escapes that json.loads forgives.
    if canonical != text:
        raise InvalidBallot(
            "ballot: not in canonical form (sorted keys, no whitespace, no escapes)",
            code="ballot_not_canonical",
        )
    return ParsedBallot(election=election, contest=contest, choices=tuple(choices), nonce=nonce)


def ballot_input_msg(msg_prefix: bytes, ballot: str) -> bytes:
    """RFC 9474 input_msg of a ballot: ``msg_prefix || UTF-8(ballot)``."""
    if not isinstance(msg_prefix, bytes) or len(msg_prefix) != PREFIX_LENGTH:
        raise InvalidBallot(f"msg_prefix: must be {PREFIX_LENGTH} bytes", code="bad_msg_prefix")
    _check_utf8(ballot, "ballot")
    return msg_prefix + ballot.encode("utf-8")


def ballot_hash(msg_prefix: bytes, ballot_bytes: bytes) -> str:
    """Hex SHA-256 of ``msg_prefix || ballot``: the receipt's and the board's ballot hash."""
    return hashlib.sha256(msg_prefix + ballot_bytes).hexdigest()
