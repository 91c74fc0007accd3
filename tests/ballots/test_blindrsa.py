"""RFC 9474 glue: the RFC's four vectors, round trips with fresh keys, and every refusal."""

from __future__ import annotations

import base64
import functools
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ballots import (
    MIN_KEY_BITS,
    PREFIX_LENGTH,
    BlindingError,
    BlindSigner,
    InvalidBlindedMessage,
    InvalidKey,
    InvalidSignature,
    SigningFailure,
    blind,
    blind_sign,
    finalize,
    generate_private_key,
    load_public_key_spki,
    modulus_length,
    prepare,
    public_key_jwk,
    public_key_spki,
    verify,
)
from ballots.blindrsa import emsa_pss_encode

from .conftest import load_vectors

VECTORS = load_vectors()
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def x(value: str) -> int:
    return int(value, 16)


def fixed(data: bytes) -> Callable[[int], bytes]:
    """A random source that returns ``data`` once, and refuses to be asked for anything else."""
    calls: list[int] = []

    def rng(length: int) -> bytes:
        assert not calls, "the random source was asked twice"
        assert length == len(data)
        calls.append(length)
        return data

    return rng


def no_rng(length: int) -> bytes:
    raise AssertionError("no randomness expected here")


def vector_key(vector: dict[str, Any]) -> rsa.RSAPrivateKey:
    return _private_key(vector["p"], vector["q"], vector["d"], vector["e"], vector["n"])


@functools.cache
def _private_key(*hex_numbers: str) -> rsa.RSAPrivateKey:
    # All four vectors share one key, and cryptography's key check is slow for 4096 bits.
    p, q, d, e, n = (x(value) for value in hex_numbers)
    public = rsa.RSAPublicNumbers(e, n)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=public,
    )
    return numbers.private_key()


def test_all_four_vectors_are_present() -> None:
    assert sorted(v["name"] for v in VECTORS) == [
        "RSABSSA-SHA384-PSS-Deterministic",
        "RSABSSA-SHA384-PSS-Randomized",
        "RSABSSA-SHA384-PSSZERO-Deterministic",
        "RSABSSA-SHA384-PSSZERO-Randomized",
    ]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_client_side(vector: dict[str, Any]) -> None:
    key = rsa.RSAPublicNumbers(x(vector["e"]), x(vector["n"])).public_key()
    n = x(vector["n"])
    salt_length = x(vector["sLen"])
    msg = h(vector["msg"])
    if x(vector["is_randomized"]):
        msg_prefix, input_msg = prepare(msg, fixed(h(vector["msg_prefix"])))
        assert msg_prefix == h(vector["msg_prefix"])
        assert len(msg_prefix) == PREFIX_LENGTH
    else:
        assert vector["msg_prefix"] == ""
        input_msg = msg
    assert input_msg == h(vector["input_msg"])

    salt = h(vector["salt"])
    assert len(salt) == salt_length
    if "encoded_msg" in vector:
        assert emsa_pss_encode(input_msg, n.bit_length() - 1, salt) == h(vector["encoded_msg"])

    inv = x(vector["inv"])
    blinded_msg, got_inv = blind(
        key, input_msg, no_rng, salt=salt, r=pow(inv, -1, n), salt_length=salt_length
    )
    assert blinded_msg == h(vector["blinded_msg"])
    assert got_inv == inv

    sig = finalize(key, input_msg, h(vector["blind_sig"]), inv, salt_length=salt_length)
    assert sig == h(vector["sig"])
    verify(key, input_msg, sig, salt_length=salt_length)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_server_side(vector: dict[str, Any]) -> None:
    key = vector_key(vector)
    blinded_msg = h(vector["blinded_msg"])
    assert BlindSigner(key).sign(blinded_msg) == h(vector["blind_sig"])
    assert blind_sign(key, blinded_msg) == h(vector["blind_sig"])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_signature_fails_for_other_message(vector: dict[str, Any]) -> None:
    key = rsa.RSAPublicNumbers(x(vector["e"]), x(vector["n"])).public_key()
    salt_length = x(vector["sLen"])
    with pytest.raises(InvalidSignature):
        verify(key, h(vector["input_msg"]) + b"!", h(vector["sig"]), salt_length=salt_length)
    with pytest.raises(InvalidSignature):
        finalize(
            key,
            h(vector["input_msg"]),
            h(vector["blinded_msg"]),  # not a blind signature
            x(vector["inv"]),
            salt_length=salt_length,
        )


def test_round_trip_with_fresh_key(private_key: rsa.RSAPrivateKey, signer: BlindSigner) -> None:
    public_key = private_key.public_key()
    msg_prefix, input_msg = prepare(b'{"v":1}')
    assert input_msg == msg_prefix + b'{"v":1}'
    blinded_msg, inv = blind(public_key, input_msg)
    assert len(blinded_msg) == modulus_length(public_key) == 256
    sig = finalize(public_key, input_msg, signer.sign(blinded_msg), inv)
    verify(public_key, input_msg, sig)
    # cryptography's own verifier agrees, independently of our verify().
    public_key.verify(sig, input_msg, PSS, hashes.SHA384())


def test_blinding_hides_the_message(private_key: rsa.RSAPrivateKey) -> None:
    public_key = private_key.public_key()
    _, input_msg = prepare(b"ballot")
    first, _ = blind(public_key, input_msg)
    second, _ = blind(public_key, input_msg)
    assert first != second


def test_verify_accepts_cryptography_signatures(private_key: rsa.RSAPrivateKey) -> None:
    sig = private_key.sign(b"hello", PSS, hashes.SHA384())
    verify(private_key.public_key(), b"hello", sig)


def test_verify_refuses_a_flipped_bit(private_key: rsa.RSAPrivateKey, signer: BlindSigner) -> None:
    public_key = private_key.public_key()
    _, input_msg = prepare(b"ballot")
    blinded_msg, inv = blind(public_key, input_msg)
    sig = finalize(public_key, input_msg, signer.sign(blinded_msg), inv)
    bad = bytearray(sig)
    bad[-1] ^= 1
    with pytest.raises(InvalidSignature):
        verify(public_key, input_msg, bytes(bad))


@pytest.mark.parametrize("variant", ["short", "long", "modulus", "too_big"])
def test_verify_refuses_other_spellings_of_a_signature(
    private_key: rsa.RSAPrivateKey, variant: str
) -> None:
    public_key = private_key.public_key()
    n = public_key.public_numbers().n
    sig = private_key.sign(b"m", PSS, hashes.SHA384())
    k = len(sig)
    spelled = {
        "short": sig[1:],
        "long": b"\x00" + sig,
        "modulus": n.to_bytes(k, "big"),
        "too_big": b"\xff" * k,
    }[variant]
    with pytest.raises(InvalidSignature):
        verify(public_key, b"m", spelled)


def test_signature_of_one_krets_fails_in_another(
    krets_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    # B is the key with the larger modulus, so A's blinded message is always in B's range (else
    # B's signer rightly refuses it as out of range, which is not what this test is about).
    key_a, key_b = sorted(krets_keys, key=lambda k: k.public_key().public_numbers().n)
    _, input_msg = prepare(b"ballot for krets A")
    blinded_msg, inv = blind(key_a.public_key(), input_msg)
    sig = finalize(key_a.public_key(), input_msg, BlindSigner(key_a).sign(blinded_msg), inv)
    with pytest.raises(InvalidSignature):
        verify(key_b.public_key(), input_msg, sig)
    # Signed by the other krets's key: unblinding under A's key does not verify either.
    with pytest.raises(InvalidSignature):
        finalize(key_a.public_key(), input_msg, BlindSigner(key_b).sign(blinded_msg), inv)


@pytest.mark.parametrize("case", ["n", "n_plus_1", "all_ff", "short", "long", "empty", "str"])
def test_blind_sign_refuses_out_of_range(signer: BlindSigner, case: str) -> None:
    n = signer.public_key.public_numbers().n
    k = signer.modulus_length
    blinded: Any = {
        "n": n.to_bytes(k, "big"),
        "n_plus_1": (n + 1).to_bytes(k, "big"),
        "all_ff": b"\xff" * k,
        "short": b"\x01" * (k - 1),
        "long": b"\x00" + b"\x01" * k,
        "empty": b"",
        "str": "A" * k,
    }[case]
    with pytest.raises(InvalidBlindedMessage) as info:
        signer.sign(blinded)
    assert info.value.code == "invalid_blinded_msg"
    assert "blinded_msg" in str(info.value)


def test_blind_sign_checks_its_result(
    private_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = BlindSigner(private_key)
    _, input_msg = prepare(b"ballot")
    blinded_msg, _ = blind(private_key.public_key(), input_msg)
    real_crt = signer._crt
    monkeypatch.setattr(signer, "_crt", lambda m: real_crt(m) + 1)  # a faulty CRT half
    with pytest.raises(SigningFailure):
        signer.sign(blinded_msg)


def test_blind_signer_matches_textbook_rsa(
    signer: BlindSigner, private_key: rsa.RSAPrivateKey
) -> None:
    numbers = private_key.private_numbers()
    n = numbers.public_numbers.n
    m = 123456789**40 % n
    k = signer.modulus_length
    assert signer.sign(m.to_bytes(k, "big")) == pow(m, numbers.d, n).to_bytes(k, "big")
    assert signer.sign(b"\x00" * k) == b"\x00" * k


def test_short_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point
    with pytest.raises(InvalidKey):
        BlindSigner(small)
    with pytest.raises(InvalidKey):
        generate_private_key(MIN_KEY_BITS - 1)
    with pytest.raises(InvalidKey):
        load_public_key_spki(public_key_spki(small.public_key()))


def test_spki_and_jwk_round_trip(private_key: rsa.RSAPrivateKey) -> None:
    public_key = private_key.public_key()
    loaded = load_public_key_spki(public_key_spki(public_key))
    assert loaded.public_numbers() == public_key.public_numbers()
    jwk = public_key_jwk(public_key)
    assert jwk["kty"] == "RSA"
    assert jwk["alg"] == "PS384"

    def uint(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")

    assert uint(jwk["n"]) == public_key.public_numbers().n
    assert uint(jwk["e"]) == 65537
    assert "=" not in jwk["n"]


def test_non_rsa_keys_are_refused(private_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidKey):
        load_public_key_spki(public_key_spki_any(ec_key.public_key()))
    with pytest.raises(InvalidKey):
        load_public_key_spki(b"not der")
    with pytest.raises(InvalidKey):
        BlindSigner(ec_key)  # type: ignore[arg-type]
    with pytest.raises(InvalidKey):
        verify(ec_key.public_key(), b"m", b"s")  # type: ignore[arg-type]


def public_key_spki_any(key: ec.EllipticCurvePublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_blind_refuses_bad_test_hooks(private_key: rsa.RSAPrivateKey) -> None:
    public_key = private_key.public_key()
    n = public_key.public_numbers().n
    with pytest.raises(BlindingError):
        blind(public_key, b"m", no_rng, salt=b"short", r=2)
    with pytest.raises(BlindingError):
        blind(public_key, b"m", no_rng, salt=b"\x00" * 48, r=n)
    with pytest.raises(BlindingError):
        blind(public_key, b"m", lambda length: b"\x00" * 3)


def test_prepare_refuses_a_broken_random_source() -> None:
    with pytest.raises(BlindingError):
        prepare(b"m", lambda length: b"\x00" * (length - 1))


def test_package_imports_no_web_code() -> None:
    code = (
        "import sys, ballots, ballots.client, ballots.blindrsa, ballots.ballot\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'flask', 'voting', 'sqlalchemy',"
        " 'requests', 'werkzeug'}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 - fixed argv
