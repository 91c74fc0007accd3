"""Outbox rows. The body is encrypted at rest (it may hold a link token) and wiped once sent."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from voting.db import Base, IntPK, UTCTime

# How ``last_error`` begins when the SMTP server refused a mail for good (a 5xx reply); the
# list of members whom mail cannot reach (``voting.ballot.unreachable``) looks for it.
REJECTED_PREFIX = "rejected: "


class MailStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(repr(s.value) for s in MailStatus) + ")", name="status_known"
        ),
        sa.Index("ix_outbox_due", "status", "next_attempt_at"),
        sa.Index("ix_outbox_election_status", "election_id", "status"),
    )

    id: Mapped[IntPK]
    # Which election and member a mail belongs to, where it does (the committee's mail view,
    # bounces); NULL for mail to non-members such as nomination confirmations.
    election_id: Mapped[int | None] = mapped_column(sa.ForeignKey("election.id"))
    member_id: Mapped[str | None] = mapped_column(sa.ForeignKey("member.member_id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    to_addr: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(10), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[UTCTime]
    next_attempt_at: Mapped[UTCTime]
    sent_at: Mapped[UTCTime | None]
