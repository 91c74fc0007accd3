"""Signed checkpoints of a log, in the style of C2SP tlog-checkpoint.

The body is ``"<origin>\\n<size>\\n<base64 root>\\n"`` with origin ``"<host>/<election slug>"``;
the signature is Ed25519 over exactly those UTF-8 bytes. Anyone holding the log's public key
can check a checkpoint with ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class CheckpointError(ValueError):
    """A checkpoint is malformed or its signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint note body and its Ed25519 signature."""

    body: str
    signature: bytes


def key_fingerprint(public_raw: bytes) -> str:
    """A short, printable fingerprint: SHA-256 of the raw public key, in groups of four."""
    digest = hashlib.sha256(public_raw).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, 64, 4))


def _check_origin(origin: str) -> None:
    if not origin or any(c.isspace() for c in origin):
        raise CheckpointError(f"origin {origin!r} must be non-empty and hold no whitespace")


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """The note body for a log of ``size`` entries with Merkle root ``root``."""
    _check_origin(origin)
    if size < 0:
        raise CheckpointError(f"size {size} is negative")
    if len(root) != 32:
        raise CheckpointError(f"the root has 32 bytes, not {len(root)}")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def make_checkpoint(
    origin: str, size: int, root: bytes, private_key: Ed25519PrivateKey
) -> Checkpoint:
    """Build and sign the checkpoint of a log at ``size`` entries."""
    body = checkpoint_body(origin, size, root)
    return Checkpoint(body=body, signature=private_key.sign(body.encode("utf-8")))


def parse_body(body: str) -> tuple[str, int, bytes]:
    """Split a checkpoint body into (origin, size, root); raise CheckpointError if malformed."""
    if not body.endswith("\n"):
        raise CheckpointError("checkpoint body must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) != 3:
        raise CheckpointError(f"checkpoint body must have 3 lines, not {len(lines)}")
    origin, size_text, root_text = lines
    _check_origin(origin)
    # Why strict digits: "+5", " 5" or "05" would let two bodies name the same size.
    if not size_text.isascii() or not size_text.isdigit() or size_text != str(int(size_text)):
        raise CheckpointError(f"checkpoint size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"checkpoint root {root_text!r} is not base64") from exc
    if len(root) != 32 or base64.b64encode(root).decode() != root_text:
        raise CheckpointError("checkpoint root is not the base64 of 32 bytes")
    return origin, int(size_text), root


def verify_checkpoint(body: str, signature: bytes, public_key_raw: bytes) -> tuple[str, int, bytes]:
    """Check the signature over ``body`` and return its (origin, size, root)."""
    if len(public_key_raw) != 32:
        raise CheckpointError(f"an Ed25519 public key has 32 bytes, not {len(public_key_raw)}")
    public = Ed25519PublicKey.from_public_bytes(public_key_raw)
    try:
        public.verify(signature, body.encode("utf-8"))
    except InvalidSignature as exc:
        raise CheckpointError(
            f"checkpoint signature does not verify under the log key "
            f"{key_fingerprint(public_key_raw)}"
        ) from exc
    return parse_body(body)
