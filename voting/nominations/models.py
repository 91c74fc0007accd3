"""Nominations. One ``Nomination`` per nominee and election; each nominator's form is a
``NominationSubmission`` that joins it once confirmed by email."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from voting.db import Base, IntPK, UTCTime
from voting.elections.models import Contest, Election
from voting.members.models import Forening, Member


class NominationStatus(enum.StrEnum):
    AWAITING_NOMINEE = "awaiting_nominee"
    DECLINED = "declined"
    AWAITING_REVIEW = "awaiting_review"
    APPROVED = "approved"
    REJECTED = "rejected"


class SubmissionStatus(enum.StrEnum):
    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    DUPLICATE = "duplicate"  # the same nominator had already nominated this person


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Nomination(Base):
    """A nominee in an election: the candidate to be, with every nominator merged in."""

    __tablename__ = "nomination"
    __table_args__ = (
        sa.UniqueConstraint("election_id", "member_id", name="uq_nomination_election_member"),
        sa.CheckConstraint(_in("status", NominationStatus), name="status_known"),
    )

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    contest_id: Mapped[int] = mapped_column(sa.ForeignKey("contest.id"), index=True)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("member.member_id"))
    status: Mapped[str] = mapped_column(sa.String(20), default=NominationStatus.AWAITING_NOMINEE)
    created_at: Mapped[UTCTime]
    responded_at: Mapped[UTCTime | None]
    reviewed_at: Mapped[UTCTime | None]
    review_reason: Mapped[str | None] = mapped_column(sa.Text)
    presentation: Mapped[str | None] = mapped_column(sa.Text)
    links: Mapped[str | None] = mapped_column(sa.Text)  # JSON list of http(s) URLs
    photo: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # re-encoded JPEG

    election: Mapped[Election] = relationship()
    contest: Mapped[Contest] = relationship()
    member: Mapped[Member] = relationship()
    submissions: Mapped[list[NominationSubmission]] = relationship(back_populates="nomination")

    @property
    def nominator_count(self) -> int:
        return sum(1 for s in self.submissions if s.status == SubmissionStatus.CONFIRMED)


class NominationSubmission(Base):
    """One filled-in questionnaire, checked against the register when it was sent."""

    __tablename__ = "nomination_submission"
    __table_args__ = (
        sa.CheckConstraint(_in("status", SubmissionStatus), name="status_known"),
        sa.CheckConstraint(
            "(nominator_member_id IS NULL) <> (forening_id IS NULL)", name="one_nominator"
        ),
    )

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    nominee_member_id: Mapped[str] = mapped_column(sa.ForeignKey("member.member_id"))
    nominator_member_id: Mapped[str | None] = mapped_column(sa.ForeignKey("member.member_id"))
    forening_id: Mapped[int | None] = mapped_column(sa.ForeignKey("forening.id"))
    nominator_says_accepted: Mapped[bool]
    motivation: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default=SubmissionStatus.UNCONFIRMED)
    submitted_at: Mapped[UTCTime]
    confirmed_at: Mapped[UTCTime | None]
    nomination_id: Mapped[int | None] = mapped_column(sa.ForeignKey("nomination.id"), index=True)

    nomination: Mapped[Nomination | None] = relationship(back_populates="submissions")
    nominee: Mapped[Member] = relationship(foreign_keys=[nominee_member_id])
    nominator: Mapped[Member | None] = relationship(foreign_keys=[nominator_member_id])
    forening: Mapped[Forening | None] = relationship()

    @property
    def nominator_key(self) -> str:
        return (
            f"m:{self.nominator_member_id}" if self.nominator_member_id else f"f:{self.forening_id}"
        )
