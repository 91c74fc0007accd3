"""Append to the audit log inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog import GENESIS_HASH, Entry, make_entry
from voting.db import insert_for
from voting.log.models import AuditEntry, AuditHead

REGISTER_LOG = "register"
"""The log of district-wide events (member register, staff accounts); elections log by slug."""

Actor = int | str
"""Who did it, as an event's ``by``: the staff user's id (a web view's ``g.user.id``), ``"cli"``
for the command line (whoever runs it has the server), ``"scheduler"`` for the scheduler."""
CLI: Actor = "cli"
SCHEDULER: Actor = "scheduler"


def append(
    session: Session, log: str, event_type: str, data: Mapping[str, Any], now: datetime
) -> Entry:
    """Append one event to ``log``; it commits or rolls back with the caller's change."""
    session.execute(
        insert_for(session)(AuditHead)
        .values(log=log, size=0, head_hash=GENESIS_HASH)
        .on_conflict_do_nothing(index_elements=["log"])
    )
    # Why FOR UPDATE: concurrent appends to one log must take turns, or two entries would
    # claim the same predecessor. (SQLite already serializes writers.)
    head = session.scalars(
        select(AuditHead)
        .where(AuditHead.log == log)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    entry = make_entry(head.size, head.head_hash, event_type, data, now)
    session.add(
        AuditEntry(
            log=log, seq=entry.seq, type=event_type, body=entry.body.decode(), hash=entry.hash
        )
    )
    head.size += 1
    head.head_hash = entry.hash
    session.flush()
    return entry


def entries(session: Session, log: str, event_type: str | None = None) -> list[AuditEntry]:
    """The entries of ``log`` in order, optionally of one type."""
    query = select(AuditEntry).where(AuditEntry.log == log)
    if event_type:
        query = query.where(AuditEntry.type == event_type)
    return list(session.scalars(query.order_by(AuditEntry.seq)))
