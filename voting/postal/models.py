"""Postal ballot tables: outer envelopes (who), batches and paper ballots (what, never who).

Nothing links a paper ballot to an envelope: a batch holds a count of inner envelopes opened
together, and its ballots are numbered only by their place in the opened, mixed stack.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from voting.db import Base, IntPK, UTCTime

PENDING, COUNTED, SET_ASIDE = "pending", "counted", "set_aside"  # an envelope's states


class PostalEnvelope(Base):
    """A returned outer envelope: registered by one committee member, confirmed by another.

    Why two people: one staff member alone could otherwise register an envelope in the name of a
    member who never sent one, and so take away that member's online vote. At the confirmation
    the envelope is counted (the member gets a signature-issued row) or, when the member already
    has a signature online, set aside unopened.
    """

    __tablename__ = "postal_envelope"
    __table_args__ = (
        sa.UniqueConstraint("contest_id", "member_id", name="uq_postal_envelope_contest_member"),
        sa.CheckConstraint(
            f"status IN ('{PENDING}', '{COUNTED}', '{SET_ASIDE}')", name="status_known"
        ),
        sa.CheckConstraint(
            "confirmed_by IS NULL OR confirmed_by <> registered_by", name="four_eyes"
        ),
        sa.CheckConstraint(
            f"(status = '{PENDING}') = (confirmed_by IS NULL)", name="confirmed_when_done"
        ),
    )

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    contest_id: Mapped[int] = mapped_column(sa.ForeignKey("contest.id"), index=True)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("member.member_id"), index=True)
    registered_by: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"))
    registered_at: Mapped[UTCTime]
    status: Mapped[str] = mapped_column(sa.String(10), default=PENDING)
    confirmed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    confirmed_at: Mapped[UTCTime | None]


class PostalBatch(Base):
    """Inner envelopes of one contest opened together; accepted once every ballot agrees."""

    __tablename__ = "postal_batch"
    __table_args__ = (
        sa.CheckConstraint("envelopes >= 1", name="not_empty"),
        sa.CheckConstraint("(accepted_by IS NULL) = (accepted_at IS NULL)", name="accepted_whole"),
    )

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    contest_id: Mapped[int] = mapped_column(sa.ForeignKey("contest.id"), index=True)
    envelopes: Mapped[int]
    opened_by: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"))
    opened_at: Mapped[UTCTime]
    accepted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    accepted_at: Mapped[UTCTime | None]


class PaperBallot(Base):
    """One paper ballot of a batch, entered twice by two different committee members.

    ``first``, ``second`` and ``resolved`` are canonical JSON: ``{"choices": [ids]}`` or
    ``{"invalid": reason}``. A mismatch between the entries needs ``resolved`` before the batch
    is accepted.
    """

    __tablename__ = "paper_ballot"
    __table_args__ = (
        sa.UniqueConstraint("batch_id", "position", name="uq_paper_ballot_batch_position"),
        sa.CheckConstraint("position >= 1", name="position_positive"),
        sa.CheckConstraint("second_by IS NULL OR second_by <> first_by", name="two_people"),
        sa.CheckConstraint("(second IS NULL) = (second_by IS NULL)", name="second_whole"),
        sa.CheckConstraint("(resolved IS NULL) = (resolved_by IS NULL)", name="resolved_whole"),
    )

    id: Mapped[IntPK]
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("postal_batch.id"), index=True)
    position: Mapped[int]
    first: Mapped[str] = mapped_column(sa.Text)
    first_by: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"))
    second: Mapped[str | None] = mapped_column(sa.Text)
    second_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    resolved: Mapped[str | None] = mapped_column(sa.Text)
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))

    @property
    def value(self) -> str | None:
        """The ballot as entered and agreed (or resolved); None while it is not settled."""
        if self.resolved is not None:
            return self.resolved
        if self.second is not None and self.second == self.first:
            return self.first
        return None
