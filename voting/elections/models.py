"""An election and its contests, one contest per krets."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ballots.rules import SelectionRule, holds_vote
from voting.db import Base, IntPK, UTCTime
from voting.members.models import Krets

# How a voter signs in (the election file's ``sign_in``; docs/deployment.md, "Swedish eID"):
# the emailed link alone, Swedish eID alone, or the link and then eID for the same member.
SIGN_IN_LINK = "link"
SIGN_IN_EID = "eid"
SIGN_IN_LINK_EID = "link+eid"
SIGN_IN_MODES = (SIGN_IN_LINK, SIGN_IN_EID, SIGN_IN_LINK_EID)


class Election(Base):
    __tablename__ = "election"
    __table_args__ = (
        sa.CheckConstraint("nomination_opens < nomination_closes", name="nomination_window"),
        sa.CheckConstraint("nomination_closes < voting_opens", name="nomination_before_voting"),
        sa.CheckConstraint("voting_opens < voting_closes", name="voting_window"),
        sa.CheckConstraint(
            "sign_in IN (" + ", ".join(repr(m) for m in SIGN_IN_MODES) + ")", name="sign_in_known"
        ),
    )

    id: Mapped[IntPK]
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Stockholm")
    nomination_opens: Mapped[UTCTime]
    nomination_closes: Mapped[UTCTime]
    voting_opens: Mapped[UTCTime]
    voting_closes: Mapped[UTCTime]
    # Hours before voting_closes at which non-voters are reminded (the election file's
    # schedule.reminders); the scheduler sends each once.
    reminder_hours: Mapped[list[int]] = mapped_column(sa.JSON, default=lambda: [72, 24])
    candidates_published_at: Mapped[UTCTime | None]
    created_at: Mapped[UTCTime]
    sign_in: Mapped[str] = mapped_column(
        sa.String(10), default=SIGN_IN_LINK, server_default=SIGN_IN_LINK
    )

    contests: Mapped[list[Contest]] = relationship(
        back_populates="election", order_by="Contest.krets_code"
    )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the election's own timezone, for display."""
        return moment.astimezone(self.tz)

    def nomination_open(self, now: datetime) -> bool:
        """Open from ``nomination_opens`` up to and including ``nomination_closes``."""
        return (
            self.candidates_published_at is None
            and self.nomination_opens <= now <= self.nomination_closes
        )

    @property
    def needs_link(self) -> bool:
        """Whether a voter must open their emailed link (modes ``link`` and ``link+eid``)."""
        return self.sign_in in (SIGN_IN_LINK, SIGN_IN_LINK_EID)

    @property
    def needs_eid(self) -> bool:
        """Whether a voter must sign in with Swedish eID (modes ``eid`` and ``link+eid``)."""
        return self.sign_in in (SIGN_IN_EID, SIGN_IN_LINK_EID)

    def voting_open(self, now: datetime) -> bool:
        return self.voting_opens <= now <= self.voting_closes

    def phase(self, now: datetime) -> str:
        """The phase the clock and the schedule put the election in."""
        if now < self.nomination_opens:
            return "before_nomination"
        if now <= self.nomination_closes:
            return "nomination"
        if now < self.voting_opens:
            return "review"
        if now <= self.voting_closes:
            return "voting"
        return "closed"


class Contest(Base):
    """The election in one krets: its seats, selection rule and candidate list."""

    __tablename__ = "contest"
    __table_args__ = (
        sa.UniqueConstraint("election_id", "krets_code", name="uq_contest_election_krets"),
        sa.CheckConstraint("seats >= 1", name="seats_positive"),
        sa.CheckConstraint("min_selections >= 1", name="min_positive"),
        sa.CheckConstraint("max_selections >= min_selections", name="max_ge_min"),
        sa.CheckConstraint("substitutes >= 0", name="substitutes_nonnegative"),
    )

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    krets_code: Mapped[str] = mapped_column(sa.ForeignKey("krets.code"))
    seats: Mapped[int]
    min_selections: Mapped[int]
    max_selections: Mapped[int]
    substitutes: Mapped[int]
    # SHA-256 of the canonical published candidate list; set once, at publication.
    list_hash: Mapped[str | None] = mapped_column(sa.String(64))

    election: Mapped[Election] = relationship(back_populates="contests")
    krets: Mapped[Krets] = relationship()

    def rule(self, candidates: int | None = None) -> SelectionRule:
        """The selection rule; in a contest put to a vote, capped at its ``candidates``.

        Why the cap: the party marks exactly as many names as there are seats, and a rule may
        ask for more names than there are candidates only where no vote is held (``holds_vote``):
        there every candidate is elected without one, and the configured rule stands, unused.
        """
        low, high = self.min_selections, self.max_selections
        if candidates is not None and holds_vote(self.seats, candidates):
            low, high = min(low, candidates), min(high, candidates)
        return SelectionRule(
            seats=self.seats,
            min_selections=low,
            max_selections=high,
            substitutes=self.substitutes,
        )
