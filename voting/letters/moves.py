"""Moving a voting link to a changed address: one committee member asks, another approves.

Why: a voting link is the member's vote. One staff member who could change a member's address
to their own and resend the link could vote in the member's name; the notice to the old address
(``mail.addresses.change_email``) makes that visible, and this makes it take two people. The
log names both staff accounts, and the results count the moves per krets in public.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog.events import LINKS_MOVE_ASKED, LINKS_MOVE_DECIDED
from voting.ballot.links import check_resend, link_would_move, resend_link
from voting.ballot.models import LETTER, LinkMove, RollEntry
from voting.crypto import pseudonym
from voting.elections.models import Election
from voting.errors import Blocker, TransitionBlocked, VotingError
from voting.letters.services import letter_contact, replace_letter
from voting.log.services import append
from voting.members.models import Member

PENDING, APPROVED, REFUSED = "pending", "approved", "refused"


def _check_window(election: Election, now: datetime, cutoff: timedelta) -> None:
    # Why a cutoff: a move approved in the last hours leaves the member no time to notice the
    # notice to their old address and object before the close.
    if now > election.voting_closes - cutoff:
        hours = int(cutoff.total_seconds() // 3600)
        raise TransitionBlocked([Blocker("link_move_too_late", {"hours": hours})])


def ask(
    session: Session,
    election: Election,
    member: Member,
    by: int,
    now: datetime,
    cutoff: timedelta,
) -> LinkMove:
    """Ask to send the member a new link at their changed address; pending until approved."""
    check_resend(session, election, member, now)
    _check_window(election, now, cutoff)
    if not link_would_move(session, election, member):
        raise VotingError("the address has not changed since the link went out", code="no_move")
    existing = session.scalar(
        select(LinkMove).where(
            LinkMove.election_id == election.id,
            LinkMove.member_id == member.member_id,
            LinkMove.status == PENDING,
        )
    )
    if existing is not None:
        return existing
    move = LinkMove(election_id=election.id, member_id=member.member_id, asked_by=by, asked_at=now)
    move.status = PENDING
    session.add(move)
    session.flush()
    voter = pseudonym(member.member_id, election.slug)
    append(
        session, election.slug, LINKS_MOVE_ASKED, {"move": move.id, "voter": voter, "by": by}, now
    )
    return move


def decide(
    session: Session,
    move_id: int,
    by: int,
    approve: bool,
    now: datetime,
    base_url: str,
    cutoff: timedelta,
) -> LinkMove:
    """Approve (send the link) or refuse a pending move; never by the one who asked."""
    move = session.scalars(
        select(LinkMove).where(LinkMove.id == move_id).with_for_update()
    ).one_or_none()
    if move is None or move.status != PENDING:
        raise VotingError("no such pending request", code="no_pending_move")
    if move.asked_by == by:
        raise VotingError(
            "the committee member who asked cannot decide: another one must", code="same_person"
        )
    election = session.get_one(Election, move.election_id)
    member = session.get_one(Member, move.member_id)
    if approve:
        _check_window(election, now, cutoff)
        if move.kind == LETTER:
            # A letter to a changed address (voting.letters): the same four eyes, a new letter.
            contact = letter_contact(current_app.config)
            replace_letter(
                session, election, member, now, base_url, contact, by=by, approved_move=move.id
            )
        else:
            resend_link(session, election, member, now, base_url, by=by, approved_move=move.id)
    move.status = APPROVED if approve else REFUSED
    move.decided_by, move.decided_at = by, now
    append(
        session,
        election.slug,
        LINKS_MOVE_DECIDED,
        {"move": move.id, "by": by, "approved": approve},
        now,
    )
    session.flush()
    return move


def pending(session: Session, election: Election) -> list[LinkMove]:
    """The election's moves waiting for a second committee member, oldest first."""
    return list(
        session.scalars(
            select(LinkMove)
            .where(LinkMove.election_id == election.id, LinkMove.status == PENDING)
            .order_by(LinkMove.asked_at, LinkMove.id)
        )
    )


def approved_per_contest(session: Session, election: Election) -> Counter[str]:
    """How many links were moved to a changed address, per contest id: shown in the results."""
    rows = session.execute(
        select(RollEntry.contest_id)
        .join(
            LinkMove,
            (LinkMove.member_id == RollEntry.member_id)
            & (LinkMove.election_id == RollEntry.election_id),
        )
        .where(LinkMove.election_id == election.id, LinkMove.status == APPROVED)
    ).scalars()
    return Counter(str(contest_id) for contest_id in rows)
