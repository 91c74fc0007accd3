"""Tamper-evident audit log: canonical entries, hash chain and (later) Merkle checkpoints.

Pure Python: never imports Flask or a database driver, so that an auditor can run it offline.
"""

from auditlog.entries import (
    GENESIS_HASH,
    ChainError,
    Entry,
    canonical_json,
    leaf_hash,
    make_entry,
    verify_chain,
)

__all__ = [
    "GENESIS_HASH",
    "ChainError",
    "Entry",
    "canonical_json",
    "leaf_hash",
    "make_entry",
    "verify_chain",
]
