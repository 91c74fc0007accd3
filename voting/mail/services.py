"""Queue mail in the caller's transaction; deliver it later (see ``deliver``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from voting.crypto import decrypt, encrypt
from voting.mail.models import MailStatus, OutboxMessage

BODY_KEY = "outbox-body"
# Rows per INSERT when queueing in bulk: large enough to amortise the round trip, small enough
# to keep each statement's parameters well under the drivers' limits.
BULK_BATCH = 1000


def queue_mail(
    session: Session,
    *,
    to: str,
    subject: str,
    body: str,
    kind: str,
    now: datetime,
    election_id: int | None = None,
    member_id: str | None = None,
) -> OutboxMessage:
    """Put one email in the outbox; it is sent only if the caller's transaction commits.

    ``election_id`` and ``member_id`` say whose mail it is, where known: the committee's mail
    view counts by election, and a rejected address is marked on the member.
    """
    message = OutboxMessage(
        kind=kind,
        to_addr=to,
        subject=subject,
        body_enc=encrypt(body.encode(), BODY_KEY),
        status=MailStatus.QUEUED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        election_id=election_id,
        member_id=member_id,
    )
    session.add(message)
    return message


def outbox_row(
    *,
    to: str,
    subject: str,
    body: str,
    kind: str,
    now: datetime,
    data_key: str,
    election_id: int | None = None,
    member_id: str | None = None,
) -> dict[str, Any]:
    """One outbox row as a dict for ``queue_many``; the body is encrypted here, as in queue_mail."""
    return {
        "kind": kind,
        "to_addr": to,
        "subject": subject,
        "body_enc": encrypt(body.encode(), BODY_KEY, data_key=data_key),
        "status": MailStatus.QUEUED.value,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "election_id": election_id,
        "member_id": member_id,
    }


def queue_many(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert ``outbox_row`` dicts in batches, in the caller's transaction; returns the count."""
    # Core INSERTs, not ORM objects: 100,000 link mails must queue in seconds, not minutes.
    table = cast(sa.Table, OutboxMessage.__table__)
    batch: list[dict[str, Any]] = []
    count = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= BULK_BATCH:
            session.execute(sa.insert(table), batch)
            count += len(batch)
            batch = []
    if batch:
        session.execute(sa.insert(table), batch)
        count += len(batch)
    return count


def message_body(message: OutboxMessage) -> str | None:
    """The clear body of a queued message, or None once it was sent and wiped."""
    if message.body_enc is None:
        return None
    return decrypt(message.body_enc, BODY_KEY).decode()
