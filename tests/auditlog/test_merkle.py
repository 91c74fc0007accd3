"""RFC 9162 Merkle trees: the iterative code against a naive recursive reference."""

from __future__ import annotations

import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog import merkle
from auditlog.entries import leaf_hash


def leaves(n: int) -> list[bytes]:
    return [bytes.fromhex(leaf_hash(f"entry {i}".encode())) for i in range(n)]


# --- The reference: RFC 9162 §2.1, transcribed literally ---------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return [] if m in (0, len(d)) else ref_subproof(m, d, True)


# --- Roots --------------------------------------------------------------------------------


def test_empty_tree_is_sha256_of_nothing():
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


def test_one_leaf_is_its_own_root():
    [leaf] = leaves(1)
    assert merkle.root([leaf]) == leaf


def test_three_leaves_by_hand():
    a, b, c = leaves(3)
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    assert merkle.root([a, b, c]) == hashlib.sha256(b"\x01" + ab + c).digest()


@pytest.mark.parametrize("n", range(0, 40))
def test_root_matches_reference(n):
    assert merkle.root(leaves(n)) == ref_mth(leaves(n))


def test_a_leaf_must_be_32_bytes():
    with pytest.raises(merkle.MerkleError, match="leaf 1"):
        merkle.root([b"\x00" * 32, b"short"])


# --- Inclusion ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 20))
def test_inclusion_matches_reference_and_verifies(n):
    d = leaves(n)
    top = merkle.root(d)
    for i in range(n):
        proof = merkle.inclusion_proof(d, i)
        assert proof == ref_path(i, d)
        merkle.verify_inclusion(d[i], i, n, proof, top)


def test_inclusion_fails_for_another_leaf_index_or_root():
    d = leaves(11)
    top = merkle.root(d)
    proof = merkle.inclusion_proof(d, 5)
    with pytest.raises(merkle.MerkleError, match="expected root"):
        merkle.verify_inclusion(d[6], 5, 11, proof, top)
    with pytest.raises(merkle.MerkleError):
        merkle.verify_inclusion(d[5], 4, 11, proof, top)
    with pytest.raises(merkle.MerkleError, match="expected root"):
        merkle.verify_inclusion(d[5], 5, 11, proof, merkle.root(d[:10]))
    with pytest.raises(merkle.MerkleError, match="too short"):
        merkle.verify_inclusion(d[5], 5, 11, proof[:-1], top)
    with pytest.raises(merkle.MerkleError, match="too long"):
        merkle.verify_inclusion(d[5], 5, 11, [*proof, top], top)
    with pytest.raises(merkle.MerkleError, match="not in a tree"):
        merkle.inclusion_proof(d, 11)


# --- Consistency --------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(0, 20))
def test_consistency_matches_reference_and_verifies(n):
    d = leaves(n)
    for m in range(n + 1):
        proof = merkle.consistency_proof(d, m)
        assert proof == ref_proof(m, d), (m, n)
        merkle.verify_consistency(m, n, merkle.root(d[:m]), merkle.root(d), proof)


def test_consistency_rejects_bad_sizes_and_proofs():
    d = leaves(7)
    proof = merkle.consistency_proof(d, 3)
    old, new = merkle.root(d[:3]), merkle.root(d)
    with pytest.raises(merkle.MerkleError, match="size 3"):
        merkle.verify_consistency(3, 7, merkle.root(d[:2]), new, proof)
    with pytest.raises(merkle.MerkleError):
        merkle.verify_consistency(3, 7, old, new, proof[:-1])
    with pytest.raises(merkle.MerkleError, match="empty"):
        merkle.verify_consistency(3, 7, old, new, [])
    with pytest.raises(merkle.MerkleError, match="different roots"):
        merkle.verify_consistency(7, 7, old, new, [])
    with pytest.raises(merkle.MerkleError, match="between 0 and 7"):
        merkle.consistency_proof(d, 8)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_prefix_is_consistent_and_a_changed_leaf_breaks_it(data):
    n = data.draw(st.integers(min_value=1, max_value=300), label="n")
    m = data.draw(st.integers(min_value=1, max_value=n), label="m")
    d = leaves(n)
    old_root, new_root = merkle.root(d[:m]), merkle.root(d)
    proof = merkle.consistency_proof(d, m)
    merkle.verify_consistency(m, n, old_root, new_root, proof)
    # Change one leaf of the new tree: the old root no longer names a prefix of it.
    changed = data.draw(st.integers(min_value=0, max_value=n - 1), label="changed")
    forged = list(d)
    forged[changed] = hashlib.sha256(b"forged" + forged[changed]).digest()
    forged_root = merkle.root(forged)
    assert forged_root != new_root
    if changed < m or m == n:
        # A history rewrite: no proof from the honest tree links old to the forged root, and
        # neither does the forged tree's own proof.
        with pytest.raises(merkle.MerkleError):
            merkle.verify_consistency(m, n, old_root, forged_root, proof)
        with pytest.raises(merkle.MerkleError):
            merkle.verify_consistency(
                m, n, old_root, forged_root, merkle.consistency_proof(forged, m)
            )
    else:
        # A new leaf after the prefix changed: the honest proof no longer leads to the new root.
        with pytest.raises(merkle.MerkleError):
            merkle.verify_consistency(m, n, old_root, forged_root, proof)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=1, max_value=200), data=st.data())
def test_any_inclusion_proof_verifies(n, data):
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    d = leaves(n)
    merkle.verify_inclusion(d[i], i, n, merkle.inclusion_proof(d, i), merkle.root(d))


@pytest.mark.slow
def test_a_million_leaves_is_quick():
    d = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1_000_000)]
    start = time.perf_counter()
    top = merkle.root(d)
    proof = merkle.consistency_proof(d, 765_432)
    merkle.verify_consistency(765_432, len(d), merkle.root(d[:765_432]), top, proof)
    merkle.verify_inclusion(d[4321], 4321, len(d), merkle.inclusion_proof(d, 4321), top)
    assert time.perf_counter() - start < 30
