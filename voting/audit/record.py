"""The election record: all that an auditor needs to check an election offline, no personal data.

The format is documented in docs/election-record.md and checked by ``auditlog.verify``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from auditlog.record import FORMAT, VERSION
from voting.ballot import services
from voting.ballot.codes import code_lists
from voting.ballot.models import BoardSeal, Tally
from voting.elections.models import Contest, Election
from voting.errors import ServiceError
from voting.lifecycle.tally import stored_result
from voting.log.checkpoints import checkpoint_json, checkpoint_now, checkpoints, log_key_json
from voting.log.models import AuditHead
from voting.log.services import entries
from voting.postal.paper import paper_record


class RecordNotReady(ServiceError):
    """The election is not counted yet, so there is no record to give."""


def ensure_final_checkpoint(session: Session, election: Election, now: datetime) -> None:
    """Sign a checkpoint of the whole log if entries (the tally's, say) came after the last."""
    head = session.get(AuditHead, election.slug)
    rows = checkpoints(session, election.slug)
    # Why: an entry after the last checkpoint could be edited without breaking any signature.
    if head is not None and (not rows or rows[-1].size < head.size):
        checkpoint_now(session, election.slug, now, "record.export")


def build_record(session: Session, election: Election) -> dict[str, Any]:
    """The versioned election record of a counted election; RecordNotReady before the count."""
    tally_row = session.get(Tally, election.id)
    seal_row = session.get(BoardSeal, election.id)
    result = stored_result(session, election)
    if tally_row is None or seal_row is None or result is None:
        raise RecordNotReady(f"election {election.slug!r} is not counted yet")
    key = log_key_json(session, election.slug)
    # The board as published after the close: any moment after voting_closes gives the same.
    after_close = election.voting_closes + timedelta(microseconds=1)
    board = services.board(session, election, after_close)
    sealed = json.loads(seal_row.seal)["contests"]
    # Who took part, anonymously: per contest the sorted codes of the roll and those issued a
    # signature, with no time, order or member beside them (docs/election-record.md, §8).
    codes = code_lists(session, election)
    return {
        "format": FORMAT,
        "version": VERSION,
        "election": election.slug,
        "manifest": services.manifest(session, election),
        "log": {
            "name": election.slug,
            "public_key": key["log_key"],
            "fingerprint": key["log_key_fingerprint"],
            # The exact stored bytes, never re-serialized: their hashes are the log's leaves.
            "entries": [row.body for row in entries(session, election.slug)],
            "checkpoints": [checkpoint_json(row) for row in checkpoints(session, election.slug)],
        },
        "board": [
            {"contest": c["id"], "krets": c["krets"], "ballots": c["ballots"]}
            for c in board["contests"]
        ],
        "contests": [
            {
                "contest": c["contest"],
                "krets": c["krets"],
                "signatures_issued": c["signatures_issued"],
                "roll_size": c["roll_size"],
                "roll_codes": codes[int(c["contest"])].roll,
                "roll_codes_salt": codes[int(c["contest"])].salt,
                "issued_codes": codes[int(c["contest"])].issued,
                "postal_envelopes": c.get("postal_envelopes", 0),
                "postal_set_aside": c.get("postal_set_aside", 0),
                # Choices only, sorted: no member, no batch, no order of entry.
                **paper_record(session, session.get_one(Contest, int(c["contest"]))),
            }
            for c in sealed
        ],
        "tally": {"seed": tally_row.seed, "results": result},
    }
