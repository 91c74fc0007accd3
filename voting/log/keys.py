"""Each election's Ed25519 log key: it signs checkpoints and ballot receipts."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from auditlog.checkpoint import key_fingerprint
from voting.crypto import decrypt, encrypt
from voting.log.models import LogKey

PURPOSE = "log-key"


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def ensure_log_key(session: Session, log: str) -> LogKey:
    """The log's key, created on first use; the private half is encrypted at rest."""
    key = session.get(LogKey, log)
    if key is None:
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        key = LogKey(
            log=log,
            public_key=_raw_public(private),
            private_key_enc=encrypt(raw, PURPOSE, aad=log.encode()),
        )
        session.add(key)
        session.flush()
    return key


_PRIVATE: dict[tuple[str, bytes], Ed25519PrivateKey] = {}


def sign(key: LogKey, message: bytes) -> bytes:
    """Ed25519 signature of ``message`` by the log's key."""
    ident = (key.log, key.public_key)
    private = _PRIVATE.get(ident)
    if private is None:
        raw = decrypt(key.private_key_enc, PURPOSE, aad=key.log.encode())
        private = _PRIVATE[ident] = Ed25519PrivateKey.from_private_bytes(raw)
    return private.sign(message)


# The pure function lives in auditlog, so that the offline verifier prints the same fingerprint.
fingerprint = key_fingerprint


def public_key_b64(key: LogKey) -> str:
    return base64.b64encode(key.public_key).decode()
