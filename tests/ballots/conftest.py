"""Fixtures for the pure ballot domain: RSA keys are slow to make, so one pair per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ballots import BlindSigner, generate_private_key

# Kept in the repository (see vectors/README.md), so that a plain clone collects.
VECTORS_PATH = Path(__file__).resolve().parent / "vectors" / "rfc9474_test_vectors.json"


def load_vectors() -> list[dict[str, Any]]:
    """The four RFC 9474 test vectors; a missing file fails the run rather than skipping it."""
    vectors: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return vectors


@pytest.fixture(scope="session")
def krets_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """Two fresh 2048-bit keys: the contests of two different kretsar."""
    return generate_private_key(2048), generate_private_key(2048)


@pytest.fixture(scope="session")
def private_key(krets_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> rsa.RSAPrivateKey:
    return krets_keys[0]


@pytest.fixture(scope="session")
def signer(private_key: rsa.RSAPrivateKey) -> BlindSigner:
    return BlindSigner(private_key)
