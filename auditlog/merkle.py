"""RFC 9162 Merkle trees over leaf hashes: roots, inclusion and consistency proofs.

The inputs are leaf hashes (SHA-256(0x00 || entry), see :mod:`auditlog.entries`); inner nodes
are SHA-256(0x01 || left || right). Everything is iterative, so a log of millions of entries
needs neither deep recursion nor more than one extra list of hashes per level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree (RFC 9162 §2.1.1)."""


class MerkleError(ValueError):
    """A proof is malformed or does not verify."""


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_leaves(leaf_hashes: Sequence[bytes]) -> None:
    for index, leaf in enumerate(leaf_hashes):
        if len(leaf) != 32:
            raise MerkleError(f"leaf {index}: a leaf hash has 32 bytes, not {len(leaf)}")


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of the leaves, built level by level.

    Pairing neighbours from the left and carrying an odd last node up unchanged gives exactly
    RFC 9162's split at the largest power of two below n.
    """
    _check_leaves(leaf_hashes)
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first; an odd last node is carried up unchanged."""
    _check_leaves(leaf_hashes)
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        levels.append(paired)
    return levels


def _subtree(levels: list[list[bytes]], start: int, size: int) -> bytes:
    """MTH of the leaves [start, start + size); start is a multiple of the size's power of 2.

    Only complete, aligned subtrees (size a power of two) and the right edge of the tree are
    asked for, and those are exactly the stored nodes of the level-by-level tree.
    """
    level = 0
    while (1 << level) < size:
        level += 1
    if (1 << level) == size:
        return levels[level][start >> level]
    # A ragged right edge: the root of the remaining leaves at the end of the tree.
    return root(levels[0][start : start + size])


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of ``leaf_hashes`` (RFC 9162 §2.1.3.1)."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise MerkleError(f"leaf index {index} is not in a tree of size {n}")
    levels = _levels(leaf_hashes)
    proof: list[bytes] = []
    # Walk down from the root, like PATH(m, D[n]), collecting siblings; then reverse.
    start, size = 0, n
    while size > 1:
        k = 1 << ((size - 1).bit_length() - 1)
        if index - start < k:
            proof.append(_subtree(levels, start + k, size - k))
            size = k
        else:
            proof.append(_subtree(levels, start, k))
            start, size = start + k, size - k
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2); raise MerkleError if it fails."""
    if not 0 <= index < size:
        raise MerkleError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise MerkleError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError("inclusion proof is too short")
    if r != expected_root:
        raise MerkleError("inclusion proof does not lead to the expected root")


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first ``old_size`` leaves are a prefix of all (RFC 9162 §2.1.4.1)."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise MerkleError(f"old size {old_size} is not between 0 and {n}")
    if old_size in (0, n):
        return []
    levels = _levels(leaf_hashes)
    # SUBPROOF(m, D[start:start+size], b), unrolled: walk down, collecting siblings.
    proof: list[bytes] = []
    start, size, m, complete = 0, n, old_size, True
    while True:
        if m == size:
            if not complete:
                proof.append(_subtree(levels, start, size))
            break
        k = 1 << ((size - 1).bit_length() - 1)
        if m <= k:
            proof.append(_subtree(levels, start + k, size - k))
            size = k
        else:
            proof.append(_subtree(levels, start, k))
            start, size, m, complete = start + k, size - k, m - k, False
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2); raise MerkleError if it fails."""
    if not 0 <= old_size <= new_size:
        raise MerkleError(f"old size {old_size} is not between 0 and {new_size}")
    if old_size == new_size:
        if proof:
            raise MerkleError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise MerkleError("equal sizes but different roots")
        return
    if old_size == 0:
        if proof:
            raise MerkleError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise MerkleError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # old_size is a power of two: the old root is itself a node of the new tree.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise MerkleError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError("consistency proof is too short")
    if fr != old_root:
        raise MerkleError(f"consistency proof does not lead to the root at size {old_size}")
    if sr != new_root:
        raise MerkleError(f"consistency proof does not lead to the root at size {new_size}")
