"""Whom the questionnaire may mail, and how often (issue 14, F6).

Only an address in the register (a member's, or a förening's contact address) is ever mailed,
and each at most ``MAILS_PER_ADDRESS_DAY`` times a day, confirmations and refusals together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from voting.mail.models import OutboxMessage
from voting.mail.services import queue_mail
from voting.members.models import Forening
from voting.members.services import members_by_email

if TYPE_CHECKING:
    from voting.elections.models import Election
    from voting.nominations.emails import Mail

# Why a daily cap per address on top of mailing only registered addresses: the per-IP rate
# limit does not stop someone with many addresses (IPv6, botnets) from filling one member's
# inbox with mail from the committee's sender. Ten is far above what one nominator needs.
MAILS_PER_ADDRESS_DAY = 10
QUESTIONNAIRE_MAIL_KINDS = ("nomination_confirm", "nomination_refused")

T = TypeVar("T")


def is_registered_address(session: Session, email: str) -> bool:
    """True when ``email`` is a member's address or a förening's contact address."""
    if members_by_email(session, email):
        return True
    contacts = session.scalar(
        select(func.count(Forening.id)).where(func.lower(Forening.contact_email) == email)
    )
    return bool(contacts)


def mail_capped(session: Session, email: str, now: datetime, config: Mapping[str, Any]) -> bool:
    """True when ``email`` had its day's share of questionnaire mail already."""
    cap = int(config.get("NOMINATION_MAILS_PER_ADDRESS_DAY", MAILS_PER_ADDRESS_DAY))
    sent = session.scalar(
        select(func.count(OutboxMessage.id)).where(
            OutboxMessage.to_addr == email,
            OutboxMessage.kind.in_(QUESTIONNAIRE_MAIL_KINDS),
            OutboxMessage.created_at > now - timedelta(days=1),
        )
    )
    return (sent or 0) >= cap


def refuse(
    session: Session, election: Election, to: str, mail: Mail, outcome: T, now: datetime
) -> T:
    """Queue a refusal ``mail`` to the nominator's address; return ``outcome``."""
    subject, body = mail
    # The election's, but no member's: the address alone names the nominator (or nobody), and a
    # household may share it.
    queue_mail(
        session,
        to=to,
        subject=subject,
        body=body,
        kind="nomination_refused",
        now=now,
        election_id=election.id,
    )
    return outcome
