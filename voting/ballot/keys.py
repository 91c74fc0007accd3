"""Contest key pairs: generated at publication, private half encrypted at rest."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from ballots.blindrsa import public_key_jwk
from voting.ballot.models import ContestKey
from voting.crypto import decrypt, encrypt
from voting.elections.models import Contest, Election

KEY_PURPOSE = "contest-key"
MIN_BITS = 2048


def _aad(contest_id: int) -> bytes:
    # Why AAD: an encrypted key copied onto another contest's row must fail to decrypt.
    return f"contest:{contest_id}".encode()


def generate_contest_keys(
    session: Session, election: Election, now: datetime, bits: int = 3072
) -> list[ContestKey]:
    """Create a key pair for every contest of ``election`` that has none yet."""
    if bits < MIN_BITS:
        raise ValueError(f"contest keys must have at least {MIN_BITS} bits")
    existing = set(
        session.scalars(
            select(ContestKey.contest_id).join(Contest).where(Contest.election_id == election.id)
        )
    )
    created = [
        store_contest_key(
            session, contest, rsa.generate_private_key(public_exponent=65537, key_size=bits), now
        )
        for contest in election.contests
        if contest.id not in existing
    ]
    session.flush()
    return created


def store_contest_key(
    session: Session, contest: Contest, private: rsa.RSAPrivateKey, now: datetime
) -> ContestKey:
    """Store ``private`` as the contest's key, encrypted under the app's data key."""
    if private.key_size < MIN_BITS:
        raise ValueError(f"contest keys must have at least {MIN_BITS} bits")
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = ContestKey(
        contest_id=contest.id,
        public_key_der=private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        private_key_enc=encrypt(der, KEY_PURPOSE, aad=_aad(contest.id)),
        bits=private.key_size,
        created_at=now,
    )
    session.add(key)
    return key


def load_private_key(key: ContestKey) -> rsa.RSAPrivateKey:
    """Decrypt a contest's private key (needs the app's DATA_KEY)."""
    der = decrypt(key.private_key_enc, KEY_PURPOSE, aad=_aad(key.contest_id))
    # Why skip the consistency check (about 40 ms a key): the key is our own, authenticated by
    # the AES-GCM tag, and every signature is verified before it is sent (SECURITY.md).
    private = serialization.load_der_private_key(
        der, password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError("contest key is not RSA")
    return private


def load_public_key(key: ContestKey) -> rsa.RSAPublicKey:
    public = serialization.load_der_public_key(key.public_key_der)
    if not isinstance(public, rsa.RSAPublicKey):
        raise TypeError("contest key is not RSA")
    return public


def public_key_json(key: ContestKey) -> dict[str, Any]:
    """The public key as standard base64 SPKI DER and as a JWK (RFC 7517)."""
    return {
        "public_key_spki": base64.b64encode(key.public_key_der).decode(),
        "public_key_jwk": public_key_jwk(load_public_key(key)),
        "key_bits": key.bits,
    }
