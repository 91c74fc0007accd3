"""Tamper-evident audit log: canonical entries, hash chain, Merkle trees and checkpoints.

Pure Python: never imports Flask or a database driver, so that an auditor can run it offline.
"""

from auditlog.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_body,
    key_fingerprint,
    make_checkpoint,
    parse_body,
    verify_checkpoint,
)
from auditlog.entries import (
    GENESIS_HASH,
    ChainError,
    Entry,
    canonical_json,
    leaf_hash,
    make_entry,
    verify_chain,
)
from auditlog.merkle import (
    EMPTY_ROOT,
    MerkleError,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "GENESIS_HASH",
    "ChainError",
    "Checkpoint",
    "CheckpointError",
    "Entry",
    "MerkleError",
    "canonical_json",
    "checkpoint_body",
    "consistency_proof",
    "inclusion_proof",
    "key_fingerprint",
    "leaf_hash",
    "make_checkpoint",
    "make_entry",
    "parse_body",
    "root",
    "verify_chain",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
