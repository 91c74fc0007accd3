"""Checkpoint notes: the body format, signing, and every tampering that must fail."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from auditlog import checkpoint as cp

ROOT = hashlib.sha256(b"a root").digest()
ORIGIN = "val.example.org/val-2027"


def raw(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_body_format(key):
    note = cp.make_checkpoint(ORIGIN, 42, ROOT, key)
    assert note.body == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n"
    assert len(note.signature) == 64


def test_sign_and_verify_round_trip(key):
    note = cp.make_checkpoint(ORIGIN, 42, ROOT, key)
    assert cp.verify_checkpoint(note.body, note.signature, raw(key)) == (ORIGIN, 42, ROOT)


def _edit(body: str, line: int, value: str) -> str:
    lines = body.split("\n")
    lines[line] = value
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (0, "evil.example.org/val-2027"),  # another origin
        (1, "43"),  # another size
        (2, base64.b64encode(hashlib.sha256(b"other").digest()).decode()),  # another root
    ],
)
def test_any_edit_breaks_the_signature(key, line, value):
    note = cp.make_checkpoint(ORIGIN, 42, ROOT, key)
    with pytest.raises(cp.CheckpointError, match="signature does not verify"):
        cp.verify_checkpoint(_edit(note.body, line, value), note.signature, raw(key))


def test_wrong_key_is_refused(key):
    note = cp.make_checkpoint(ORIGIN, 42, ROOT, key)
    other = raw(Ed25519PrivateKey.generate())
    with pytest.raises(cp.CheckpointError, match=cp.key_fingerprint(other)):
        cp.verify_checkpoint(note.body, note.signature, other)
    with pytest.raises(cp.CheckpointError, match="32 bytes"):
        cp.verify_checkpoint(note.body, note.signature, raw(key)[:31])


def test_a_re_signed_forgery_is_refused(key):
    forger = Ed25519PrivateKey.generate()
    forged = cp.make_checkpoint(ORIGIN, 43, ROOT, forger)
    with pytest.raises(cp.CheckpointError, match="signature"):
        cp.verify_checkpoint(forged.body, forged.signature, raw(key))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}", "newline"),
        (f"{ORIGIN}\n42\n", "3 lines"),
        (f"{ORIGIN}\n042\n{base64.b64encode(ROOT).decode()}\n", "decimal"),
        (f"{ORIGIN}\n-1\n{base64.b64encode(ROOT).decode()}\n", "decimal"),
        (f"{ORIGIN}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n", "32 bytes"),
        (f"{ORIGIN}\n42\nnot base64!\n", "base64"),
        (f"\n42\n{base64.b64encode(ROOT).decode()}\n", "origin"),
    ],
)
def test_malformed_bodies_are_refused_even_when_signed(key, body, message):
    with pytest.raises(cp.CheckpointError, match=message):
        cp.verify_checkpoint(body, key.sign(body.encode()), raw(key))


def test_make_refuses_bad_input(key):
    with pytest.raises(cp.CheckpointError, match="origin"):
        cp.make_checkpoint("has space/x", 1, ROOT, key)
    with pytest.raises(cp.CheckpointError, match="negative"):
        cp.make_checkpoint(ORIGIN, -1, ROOT, key)
    with pytest.raises(cp.CheckpointError, match="32 bytes"):
        cp.make_checkpoint(ORIGIN, 1, b"x", key)


def test_fingerprint_is_the_one_the_app_shows():
    from voting.log.keys import fingerprint

    public = raw(Ed25519PrivateKey.generate())
    digest = hashlib.sha256(public).hexdigest()
    assert cp.key_fingerprint(public) == fingerprint(public)
    assert cp.key_fingerprint(public).replace(" ", "") == digest
    assert len(cp.key_fingerprint(public).split(" ")) == 16


@given(size=st.integers(min_value=0, max_value=2**40), root=st.binary(min_size=32, max_size=32))
def test_any_checkpoint_round_trips(size, root):
    key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    note = cp.make_checkpoint(ORIGIN, size, root, key)
    assert cp.verify_checkpoint(note.body, note.signature, raw(key)) == (ORIGIN, size, root)
