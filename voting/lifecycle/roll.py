"""Freezing the roll: every member of the election's kretsar on it, once, with a voter code."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog import canonical_json
from auditlog.events import ROLL_FROZEN
from voting.ballot import codes, links
from voting.ballot.models import RollFreeze
from voting.ballot.services import roll_frozen
from voting.crypto import pseudonym
from voting.elections.models import Contest, Election
from voting.errors import Blocker, TransitionBlocked
from voting.log.checkpoints import checkpoint_now
from voting.log.services import Actor, append
from voting.members.models import Member


def freeze_roll(
    session: Session, election: Election, now: datetime, *, by: Actor
) -> dict[str, int]:
    """Put every member of the election's kretsar on the roll, once, each with a fresh voter
    code; log the roll's hash, and per contest its size and the commitment to its codes."""
    blockers = []
    if election.candidates_published_at is None:
        blockers.append(Blocker("candidates_not_published"))
    if roll_frozen(session, election):
        blockers.append(Blocker("roll_already_frozen"))
    if blockers:
        raise TransitionBlocked(blockers)
    contests = {c.krets_code: c.id for c in election.contests}
    members = session.execute(
        select(Contest.id, Member.member_id)
        .join(Contest, Contest.krets_code == Member.krets_code)
        .where(Contest.election_id == election.id)
    ).all()
    codes_of = codes.freeze_entries(session, election, members, now)
    per_contest: dict[int, list[str]] = {cid: [] for cid in contests.values()}
    for contest_id, member_id in members:
        per_contest[contest_id].append(pseudonym(member_id, election.slug))
    # Why pseudonyms in the hash: it commits to the exact roll without putting member IDs,
    # which are guessable, into a published value.
    roll_hash = hashlib.sha256(
        canonical_json({str(cid): sorted(p) for cid, p in per_contest.items()})
    ).hexdigest()
    session.add(RollFreeze(election_id=election.id, frozen_at=now, roll_hash=roll_hash))
    sizes = {code: len(per_contest[cid]) for code, cid in contests.items()}
    # Each contest's roll of voter codes, committed to (salted) so that the record's list of
    # them can be checked against the log (docs/election-record.md, "Voter codes").
    committed = {cid: codes.commit_roll(session, cid, codes_of.get(cid, [])) for cid in per_contest}
    append(
        session,
        election.slug,
        ROLL_FROZEN,
        {
            "roll_hash": roll_hash,
            "contests": [
                {
                    "contest": str(cid),
                    "krets": krets,
                    "size": sizes[krets],
                    "codes_hash": committed[cid],
                }
                for krets, cid in sorted(contests.items())
            ],
            "by": by,
        },
        now,
    )
    session.flush()
    checkpoint_now(session, election.slug, now, ROLL_FROZEN)
    return sizes


def send_links(
    session: Session, election: Election, now: datetime, base_url: str, *, by: Actor
) -> int:
    """Queue a link to every member of the roll who has none yet; freezes the roll if needed."""
    if now > election.voting_closes:
        raise TransitionBlocked([Blocker("voting_closed")])
    if not roll_frozen(session, election):
        freeze_roll(session, election, now, by=by)
    return links.queue_links(session, election, now, base_url, by=by)
