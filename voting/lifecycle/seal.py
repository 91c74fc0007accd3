"""Sealing the board after the close: one logged event with each contest's board and counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from auditlog import canonical_json
from auditlog.events import BOARD_SEALED
from auditlog.votercodes import list_hash as issued_codes_hash
from ballots.board import board_hash
from voting.ballot import codes
from voting.ballot.models import BoardSeal
from voting.ballot.services import board_ballots, roll_sizes, seal_lock, signatures_issued
from voting.elections.models import Election
from voting.errors import Blocker, TransitionBlocked
from voting.lifecycle import Stage, stage
from voting.log.checkpoints import checkpoint_now
from voting.log.services import Actor, append
from voting.postal.counts import sealed_envelopes


def seal_blockers(session: Session, election: Election, now: datetime) -> list[Blocker]:
    """What stops the seal now: voting still open, or a seal already made."""
    current = stage(session, election, now)
    if not current.reached(Stage.CLOSED):
        return [Blocker("voting_not_closed")]
    if current.reached(Stage.SEALED):
        return [Blocker("board_already_sealed")]
    return []


def seal_board(session: Session, election: Election, now: datetime, *, by: Actor) -> dict[str, Any]:
    """After the close, log the board as one event: each contest's board hash and counts."""
    # Why first: waits for casts, signings and roll additions still in flight to commit, and
    # holds back any that start now until the seal is committed (they then see it and are
    # refused), so the seal covers exactly the board, signatures and roll that stand.
    seal_lock(session, election, exclusive=True)
    if blockers := seal_blockers(session, election, now):
        raise TransitionBlocked(blockers)
    issued = signatures_issued(session, election)
    sizes = roll_sizes(session, election)
    # Why the issued codes' hash: the list members check their codes against is then the one
    # signed into the log at the seal, before anyone checked, for everyone the same.
    lists = codes.code_lists(session, election)
    data = {
        "contests": [
            {
                "contest": str(c.id),
                "krets": c.krets_code,
                "ballots": len(ballots := board_ballots(session, c)),
                "board_hash": board_hash(ballots),
                "signatures_issued": issued.get(c.id, 0),
                "roll_size": sizes.get(c.id, 0),
                "issued_codes_hash": issued_codes_hash(lists[c.id].issued),
                **sealed_envelopes(session, c.id),  # counted ones are in signatures_issued
            }
            for c in election.contests
        ]
    }
    session.add(
        BoardSeal(election_id=election.id, sealed_at=now, seal=canonical_json(data).decode())
    )
    append(session, election.slug, BOARD_SEALED, {**data, "by": by}, now)
    session.flush()
    checkpoint_now(session, election.slug, now, BOARD_SEALED)
    return data
