"""The election's lifecycle: its stage, computed in one place, and every stage change.

The stage changes, each with its guard and its one audit event, are the modules here:
``candidates`` (publish the lists), ``roll`` (freeze the roll), ``schedule`` (move the times:
the guard on opening and closing), ``seal`` (seal the board), ``tally`` (count) and
``results`` (publish the results). ``stage`` reads the clock and the write-once rows that those
changes leave behind, so that views, commands, the scheduler and the guards agree on where an
election stands.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy.orm import Session

from voting.ballot.models import BoardSeal, ResultsPublication, RollFreeze, Tally
from voting.elections.models import Election


class Stage(enum.StrEnum):
    """Where an election stands, in order; each later stage implies the earlier ones."""

    BEFORE_NOMINATION = "before_nomination"
    NOMINATION = "nomination"
    REVIEW = "review"  # nominations closed, lists not yet published
    CANDIDATES_PUBLISHED = "candidates_published"
    ROLL_FROZEN = "roll_frozen"  # voting not yet open
    VOTING = "voting"
    CLOSED = "closed"  # voting closed, board not yet sealed
    SEALED = "sealed"
    COUNTED = "counted"
    RESULTS_PUBLISHED = "results_published"

    def reached(self, other: Stage) -> bool:
        """Whether this stage is ``other`` or later."""
        order = list(Stage)
        return order.index(self) >= order.index(other)


def stage(session: Session, election: Election, now: datetime) -> Stage:
    """The election's stage: the write-once rows first (they never go back), then the clock."""
    if session.get(ResultsPublication, election.id) is not None:
        return Stage.RESULTS_PUBLISHED
    if session.get(Tally, election.id) is not None:
        return Stage.COUNTED
    if session.get(BoardSeal, election.id) is not None:
        return Stage.SEALED
    phase = election.phase(now)
    if phase == "closed":
        return Stage.CLOSED
    if phase == "voting":
        return Stage.VOTING
    if session.get(RollFreeze, election.id) is not None:
        return Stage.ROLL_FROZEN
    if election.candidates_published_at is not None:
        return Stage.CANDIDATES_PUBLISHED
    return Stage(phase)
