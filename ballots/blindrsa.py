"""RFC 9474 RSA blind signatures, variant RSABSSA-SHA384-PSS-Randomized: only the glue.

Hashing is hashlib's SHA-384, verification is ``cryptography``'s RSA-PSS, the private operation is
GMP's through gmpy2. What is written here is what neither library offers publicly: EMSA-PSS-ENCODE
with MGF1 (RFC 8017 9.1.1, needed to blind before signing), the blinding and unblinding arithmetic,
and CRT signing with the fault check RFC 9474 4.3 demands.

``salt_length`` is a keyword only so that the RFC's PSSZERO test vectors can be reproduced; the
election always uses the default of 48 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from collections.abc import Callable
from typing import Any

import gmpy2
from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ballots.errors import (
    BlindingError,
    InvalidBlindedMessage,
    InvalidKey,
    InvalidSignature,
    SigningFailure,
)

__all__ = [
    "DEFAULT_KEY_BITS",
    "HASH_LENGTH",
    "MIN_KEY_BITS",
    "PREFIX_LENGTH",
    "SALT_LENGTH",
    "BlindSigner",
    "RandomBytes",
    "blind",
    "blind_sign",
    "emsa_pss_encode",
    "finalize",
    "generate_private_key",
    "load_public_key_spki",
    "modulus_length",
    "prepare",
    "public_key_jwk",
    "public_key_spki",
    "verify",
]

RandomBytes = Callable[[int], bytes]
"""A source of random bytes, called with the number wanted: ``secrets.token_bytes`` by default."""

HASH_LENGTH = 48  # SHA-384
SALT_LENGTH = 48  # RSABSSA-SHA384-PSS: sLen = hLen
PREFIX_LENGTH = 32  # the randomized variant's msg_prefix
MIN_KEY_BITS = 2048
DEFAULT_KEY_BITS = 3072
PUBLIC_EXPONENT = 65537

# gmpy2 ships no type stubs: its integers are typed as Any and converted to int at the edges.
_Mpz = Any


def _i2osp(x: int, length: int) -> bytes:
    return x.to_bytes(length, "big")


def _os2ip(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _public_numbers(public_key: rsa.RSAPublicKey) -> tuple[int, int]:
    # Why: a DSA or EC key handed in by mistake must fail loudly, not as an AttributeError.
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidKey("public_key: must be an RSA public key")
    numbers = public_key.public_numbers()
    return numbers.n, numbers.e


def modulus_length(public_key: rsa.RSAPublicKey) -> int:
    """The modulus length in bytes: the size of blinded messages and (blind) signatures."""
    n, _ = _public_numbers(public_key)
    return (n.bit_length() + 7) // 8


def _mgf1_sha384(seed: bytes, length: int) -> bytes:
    blocks = math.ceil(length / HASH_LENGTH)
    mask = b"".join(
        hashlib.sha384(seed + counter.to_bytes(4, "big")).digest() for counter in range(blocks)
    )
    return mask[:length]


def emsa_pss_encode(msg: bytes, em_bits: int, salt: bytes) -> bytes:
    """EMSA-PSS-ENCODE of RFC 8017 9.1.1 with SHA-384 and MGF1-SHA-384, the salt given."""
    em_len = math.ceil(em_bits / 8)
    if em_len < HASH_LENGTH + len(salt) + 2:
        raise BlindingError("encoding error: the modulus is too short for this salt")
    m_hash = hashlib.sha384(msg).digest()
    h = hashlib.sha384(b"\x00" * 8 + m_hash + salt).digest()
    db = b"\x00" * (em_len - len(salt) - HASH_LENGTH - 2) + b"\x01" + salt
    db_mask = _mgf1_sha384(h, em_len - HASH_LENGTH - 1)
    masked = bytearray(a ^ b for a, b in zip(db, db_mask, strict=True))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked) + h + b"\xbc"


def _fresh_bytes(rng: RandomBytes, length: int, field: str) -> bytes:
    data = rng(length)
    if not isinstance(data, bytes) or len(data) != length:
        raise BlindingError(f"{field}: the random source must return {length} bytes")
    return data


def prepare(msg: bytes, rng: RandomBytes = secrets.token_bytes) -> tuple[bytes, bytes]:
    """RFC 9474 Prepare, randomized: return ``(msg_prefix, msg_prefix || msg)``."""
    # Why: the random prefix keeps the signed input unpredictable to the signer (RFC 9474 7.5).
    msg_prefix = _fresh_bytes(rng, PREFIX_LENGTH, "msg_prefix")
    return msg_prefix, msg_prefix + msg


def _random_unit(n: int, rng: RandomBytes) -> int:
    """A uniform r in [2, n) that is invertible mod n, by rejection sampling."""
    bits = n.bit_length()
    length = (bits + 7) // 8
    for _ in range(256):
        r = _os2ip(_fresh_bytes(rng, length, "r")) & ((1 << bits) - 1)
        if 1 < r < n and math.gcd(r, n) == 1:
            return r
    raise BlindingError("blinding error: the random source never gave a usable r")


def blind(
    public_key: rsa.RSAPublicKey,
    input_msg: bytes,
    rng: RandomBytes = secrets.token_bytes,
    salt: bytes | None = None,
    r: int | None = None,
    *,
    salt_length: int = SALT_LENGTH,
) -> tuple[bytes, int]:
    """RFC 9474 Blind: return ``(blinded_msg, inv)``; ``salt`` and ``r`` are test hooks."""
    n, e = _public_numbers(public_key)
    if salt is None:
        salt = _fresh_bytes(rng, salt_length, "salt")
    elif len(salt) != salt_length:
        raise BlindingError(f"salt: must be {salt_length} bytes")
    encoded = emsa_pss_encode(input_msg, n.bit_length() - 1, salt)
    m = _os2ip(encoded)
    if math.gcd(m, n) != 1:
        raise BlindingError("invalid input: the encoded message shares a factor with n")
    if r is None:
        r = _random_unit(n, rng)
    elif not 1 < r < n:
        raise BlindingError("r: must lie in [2, n)")
    try:
        inv = pow(r, -1, n)
    except ValueError:
        raise BlindingError("blinding error: r is not invertible mod n") from None
    z = (m * int(gmpy2.powmod(r, e, n))) % n
    return _i2osp(z, modulus_length(public_key)), inv


class BlindSigner:
    """The server side of one contest's key, with the CRT parameters converted once.

    Build it once per key and keep it: ``private_numbers()`` and the mpz conversions are the
    only per-key cost, and ``sign`` then costs two half-size exponentiations.
    """

    def __init__(
        self, private_key: rsa.RSAPrivateKey, *, rng: RandomBytes = secrets.token_bytes
    ) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise InvalidKey("private_key: must be an RSA private key")
        numbers = private_key.private_numbers()
        public = numbers.public_numbers
        if public.n.bit_length() < MIN_KEY_BITS:
            raise InvalidKey(f"private_key: must have at least {MIN_KEY_BITS} bits")
        self.public_key = private_key.public_key()
        self.modulus_length = (public.n.bit_length() + 7) // 8
        self._rng = rng
        self._n: _Mpz = gmpy2.mpz(public.n)
        self._e: _Mpz = gmpy2.mpz(public.e)
        self._p: _Mpz = gmpy2.mpz(numbers.p)
        self._q: _Mpz = gmpy2.mpz(numbers.q)
        self._dp: _Mpz = gmpy2.mpz(numbers.dmp1)
        self._dq: _Mpz = gmpy2.mpz(numbers.dmq1)
        self._qinv: _Mpz = gmpy2.mpz(numbers.iqmp)  # q^-1 mod p

    def _crt(self, m: _Mpz) -> _Mpz:
        # Why powmod_sec: GMP's side-channel-resistant exponentiation; the exponents and moduli are
        # the secret here, and it costs about a tenth more than plain powmod.
        s1 = gmpy2.powmod_sec(m % self._p, self._dp, self._p)
        s2 = gmpy2.powmod_sec(m % self._q, self._dq, self._q)
        h = (self._qinv * (s1 - s2)) % self._p
        return s2 + self._q * h

    def sign(self, blinded_msg: bytes) -> bytes:
        """RFC 9474 BlindSign: the blind signature of ``blinded_msg``, checked before release."""
        if not isinstance(blinded_msg, bytes) or len(blinded_msg) != self.modulus_length:
            raise InvalidBlindedMessage(
                f"blinded_msg: must be exactly {self.modulus_length} bytes (the modulus length)"
            )
        m = gmpy2.mpz(_os2ip(blinded_msg))
        # Why: RSASP1 is only defined below n; a larger input would alias m mod n.
        if m >= self._n:
            raise InvalidBlindedMessage("blinded_msg: must be smaller than the modulus")
        # Why base blinding: the input is chosen by the requester, so the CRT exponentiations run
        # on a random multiple of it that the requester cannot steer (the classic timing defence).
        u = gmpy2.mpz(_random_unit(int(self._n), self._rng))
        masked = m * gmpy2.powmod(u, self._e, self._n) % self._n
        s = self._crt(masked) * gmpy2.invert(u, self._n) % self._n
        # Why: a fault in one CRT half would leak a factor of n in the answer (Bellcore attack);
        # RFC 9474 4.3 requires this check.
        if gmpy2.powmod(s, self._e, self._n) != m:
            raise SigningFailure("signing failure: the signature did not verify; nothing was sent")
        return _i2osp(int(s), self.modulus_length)


def blind_sign(private_key: rsa.RSAPrivateKey, blinded_msg: bytes) -> bytes:
    """RFC 9474 BlindSign with a one-off BlindSigner; a server keeps a BlindSigner per key."""
    return BlindSigner(private_key).sign(blinded_msg)


def verify(
    public_key: rsa.RSAPublicKey,
    input_msg: bytes,
    sig: bytes,
    *,
    salt_length: int = SALT_LENGTH,
) -> None:
    """Check an RSASSA-PSS (SHA-384, MGF1-SHA-384) signature; raise InvalidSignature if bad."""
    n, _ = _public_numbers(public_key)
    # Why: one signature has one byte form; refusing other lengths and values >= n keeps
    # "a signature is used once" a comparison of bytes.
    if not isinstance(sig, bytes) or len(sig) != modulus_length(public_key) or _os2ip(sig) >= n:
        raise InvalidSignature("signature: not a signature of the modulus's length and range")
    try:
        public_key.verify(
            sig,
            input_msg,
            padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=salt_length),
            hashes.SHA384(),
        )
    except _CryptographyInvalidSignature:
        raise InvalidSignature("signature: does not verify under the contest's key") from None


def finalize(
    public_key: rsa.RSAPublicKey,
    input_msg: bytes,
    blind_sig: bytes,
    inv: int,
    *,
    salt_length: int = SALT_LENGTH,
) -> bytes:
    """RFC 9474 Finalize: unblind ``blind_sig`` and return the signature after verifying it."""
    n, _ = _public_numbers(public_key)
    length = modulus_length(public_key)
    if not isinstance(blind_sig, bytes) or len(blind_sig) != length:
        raise InvalidSignature(f"blind_sig: must be exactly {length} bytes")
    z = _os2ip(blind_sig)
    if z >= n:
        raise InvalidSignature("blind_sig: must be smaller than the modulus")
    sig = _i2osp((z * inv) % n, length)
    # Why: a wrong blind signature from the server must be caught before the ballot is cast.
    verify(public_key, input_msg, sig, salt_length=salt_length)
    return sig


def generate_private_key(bits: int = DEFAULT_KEY_BITS) -> rsa.RSAPrivateKey:
    """A fresh RSA key for one contest: 3072 bits by default, never fewer than 2048."""
    if bits < MIN_KEY_BITS:
        raise InvalidKey(f"bits: must be at least {MIN_KEY_BITS}")
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)


def public_key_spki(public_key: rsa.RSAPublicKey) -> bytes:
    """The public key as SubjectPublicKeyInfo DER, as the manifest publishes it (in base64)."""
    _public_numbers(public_key)
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_spki(der: bytes, *, min_bits: int = MIN_KEY_BITS) -> rsa.RSAPublicKey:
    """Load a SubjectPublicKeyInfo DER RSA key; refuse other key types and short moduli."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        raise InvalidKey("public_key_spki: not a DER SubjectPublicKeyInfo") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidKey("public_key_spki: not an RSA key")
    if key.key_size < min_bits:
        raise InvalidKey(f"public_key_spki: the modulus must have at least {min_bits} bits")
    return key


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_key_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """The public key as an RFC 7517 JWK (``kty`` RSA, ``alg`` PS384, ``n`` and ``e``)."""
    n, e = _public_numbers(public_key)
    return {"kty": "RSA", "alg": "PS384", "n": _b64url_uint(n), "e": _b64url_uint(e)}
