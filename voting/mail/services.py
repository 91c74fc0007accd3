"""Queue mail in the caller's transaction; deliver it later (see ``deliver``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from voting.crypto import decrypt, encrypt
from voting.mail.models import MailStatus, OutboxMessage

BODY_KEY = "outbox-body"


def queue_mail(
    session: Session, *, to: str, subject: str, body: str, kind: str, now: datetime
) -> OutboxMessage:
    """Put one email in the outbox; it is sent only if the caller's transaction commits."""
    message = OutboxMessage(
        kind=kind,
        to_addr=to,
        subject=subject,
        body_enc=encrypt(body.encode(), BODY_KEY),
        status=MailStatus.QUEUED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    return message


def message_body(message: OutboxMessage) -> str | None:
    """The clear body of a queued message, or None once it was sent and wiped."""
    if message.body_enc is None:
        return None
    return decrypt(message.body_enc, BODY_KEY).decode()
