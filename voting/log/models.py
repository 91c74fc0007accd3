"""Append-only log rows. Database triggers (see migrations) refuse UPDATE and DELETE."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from voting.db import Base, IntPK, UTCTime


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    log: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(sa.String(60), index=True)
    body: Mapped[str] = mapped_column(sa.Text)  # the exact canonical JSON that was hashed
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """Where each log ends; locked while appending so that appends are serialized per log."""

    __tablename__ = "audit_head"

    log: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    size: Mapped[int]
    head_hash: Mapped[str] = mapped_column(sa.String(64))


class LogKey(Base):
    """The Ed25519 key that signs a log's checkpoints and the election's receipts."""

    __tablename__ = "log_key"

    log: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)  # 32 raw bytes
    private_key_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)  # AES-GCM(32 raw bytes)


class Checkpoint(Base):
    """A signed checkpoint of a log: its size, Merkle root and the signed note."""

    __tablename__ = "checkpoint"
    __table_args__ = (sa.UniqueConstraint("log", "size", name="uq_checkpoint_log_size"),)

    id: Mapped[IntPK]
    log: Mapped[str] = mapped_column(sa.String(80), index=True)
    size: Mapped[int]
    root_b64: Mapped[str] = mapped_column(sa.String(44))
    body: Mapped[str] = mapped_column(sa.Text)  # the exact signed note
    signature: Mapped[bytes] = mapped_column(sa.LargeBinary)  # Ed25519, 64 bytes
    created_at: Mapped[UTCTime]
    reason: Mapped[str] = mapped_column(sa.String(60))
