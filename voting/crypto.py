"""Data-at-rest protection: subkeys from the one DATA_KEY, AES-GCM, keyed hashes, link tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

TOKEN_BYTES = 24  # 192 bits; the requirement is at least 128


@lru_cache(maxsize=64)
def _subkey(data_key_b64: str, purpose: str) -> bytes:
    # Why HKDF: one secret to manage, but a leak of one derived key (say, the pseudonym key
    # handed to an analysis job) does not expose what the other keys protect.
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"kongressval/{purpose}".encode()
    ).derive(base64.b64decode(data_key_b64))


def subkey(purpose: str, data_key: str | None = None) -> bytes:
    """The 32-byte key for ``purpose``, derived from the app's DATA_KEY."""
    return _subkey(data_key or current_app.config["DATA_KEY"], purpose)


def encrypt(
    plaintext: bytes, purpose: str, *, aad: bytes = b"", data_key: str | None = None
) -> bytes:
    """AES-256-GCM with a random 96-bit nonce; returns nonce || ciphertext+tag."""
    nonce = os.urandom(12)
    return nonce + AESGCM(subkey(purpose, data_key)).encrypt(nonce, plaintext, aad)


def decrypt(blob: bytes, purpose: str, *, aad: bytes = b"", data_key: str | None = None) -> bytes:
    """Reverse of :func:`encrypt`; raises cryptography's InvalidTag if anything was altered."""
    return AESGCM(subkey(purpose, data_key)).decrypt(blob[:12], blob[12:], aad)


def keyed_hash(value: str, purpose: str, data_key: str | None = None) -> str:
    """Hex HMAC-SHA256 of ``value``: stable look-ups and pseudonyms without the clear value."""
    return hmac.new(subkey(purpose, data_key), value.encode(), hashlib.sha256).hexdigest()


def pseudonym(member_id: str, log: str, data_key: str | None = None) -> str:
    """A member's name in one audit log (an election's slug, or the register's).

    A keyed hash that only the key holder can link to the member. Why per log: one member has
    unrelated names in different elections' published records, so records cannot be joined.
    """
    return "m:" + keyed_hash(f"{log}\x1f{member_id}", "pseudonym", data_key)[:24]


def nominator_pseudonym(member_id: str, log: str, data_key: str | None = None) -> str:
    """A nominator's name in an election's log, unrelated to their name as nominee or voter.

    Why apart: nominees' pseudonyms are public next to their candidate ids, so a shared name
    would show which candidate nominated whom.
    """
    return "n:" + keyed_hash(f"{log}\x1f{member_id}", "nominator-pseudonym", data_key)[:24]


def new_token() -> str:
    """A fresh URL-safe link token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What is stored for a link token: SHA-256 is enough for 192 random bits, no key needed."""
    return hashlib.sha256(token.encode()).hexdigest()
