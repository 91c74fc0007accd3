"""Signed checkpoints of an election's log, written at each phase change."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog import checkpoint_body, merkle
from voting.log.keys import ensure_log_key, fingerprint, sign
from voting.log.models import AuditEntry, AuditHead, Checkpoint, LogKey

DEFAULT_HOST = "localhost"


def origin_host() -> str:
    """The host named in checkpoint origins: BASE_URL's host in an app context, else localhost."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return DEFAULT_HOST
    host = urlsplit(str(current_app.config.get("BASE_URL") or "")).hostname
    return host or DEFAULT_HOST


def leaf_hashes(session: Session, log: str, size: int | None = None) -> list[bytes]:
    """The leaf hashes of ``log`` in order, of its first ``size`` entries if given."""
    query = select(AuditEntry.hash).where(AuditEntry.log == log)
    if size is not None:
        query = query.where(AuditEntry.seq < size)
    return [bytes.fromhex(h) for h in session.scalars(query.order_by(AuditEntry.seq))]


def write_checkpoint(
    session: Session, log: str, origin_host: str, now: datetime, reason: str
) -> Checkpoint:
    """Sign and store the checkpoint of ``log`` as it is now; idempotent while its size holds."""
    # Why lock the head: an append racing this would otherwise leave the root one entry behind
    # the size we name. (SQLite already serializes writers.)
    head = session.scalars(
        select(AuditHead)
        .where(AuditHead.log == log)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    size = head.size if head is not None else 0
    existing = session.scalar(
        select(Checkpoint).where(Checkpoint.log == log, Checkpoint.size == size)
    )
    if existing is not None:
        return existing
    hashes = leaf_hashes(session, log, size)
    if len(hashes) != size:
        raise ValueError(f"log {log!r} has {len(hashes)} entries but its head says {size}")
    root = merkle.root(hashes)
    body = checkpoint_body(f"{origin_host}/{log}", size, root)
    key = ensure_log_key(session, log)
    row = Checkpoint(
        log=log,
        size=size,
        root_b64=base64.b64encode(root).decode(),
        body=body,
        signature=sign(key, body.encode("utf-8")),
        created_at=now,
        reason=reason,
    )
    session.add(row)
    session.flush()
    return row


def checkpoint_now(session: Session, log: str, now: datetime, reason: str) -> Checkpoint:
    """Write a checkpoint at a phase change, naming the host of the running app if any."""
    return write_checkpoint(session, log, origin_host(), now, reason)


def checkpoints(session: Session, log: str) -> list[Checkpoint]:
    """The checkpoints of ``log``, oldest first."""
    return list(
        session.scalars(select(Checkpoint).where(Checkpoint.log == log).order_by(Checkpoint.size))
    )


def checkpoint_json(row: Checkpoint) -> dict[str, Any]:
    """A checkpoint as published in the API and the election record."""
    return {
        "size": row.size,
        "root": row.root_b64,
        "body": row.body,
        "signature": base64.b64encode(row.signature).decode(),
        "created_at": row.created_at.isoformat(),
        "reason": row.reason,
    }


def log_key_json(session: Session, log: str) -> dict[str, str | None]:
    """The log's public key (base64) and its printable fingerprint; None before it exists."""
    # A read never creates the key: the first checkpoint (at publication) does that.
    key = session.get(LogKey, log)
    if key is None:
        return {"log_key": None, "log_key_fingerprint": None}
    return {
        "log_key": base64.b64encode(key.public_key).decode(),
        "log_key_fingerprint": fingerprint(key.public_key),
    }
