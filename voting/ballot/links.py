"""Voting links: one per member of the roll, emailed, stored only as a hash.

A voting link is not single-use like the other emailed links: the same link must let the
member come back after the close to see whether a signature was issued in their name, and
a non-browser client uses it as a bearer token. What makes it "one vote" is the database's
at-most-one-signature rule. It stops working when revoked (on resend) and after the grace time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from voting.audit.services import append
from voting.ballot.errors import TransitionBlocked, Unauthenticated, VotingError
from voting.ballot.models import RollEntry, SignatureIssued, VoterLink
from voting.ballot.services import LINK_GRACE, freeze_roll, roll_frozen
from voting.crypto import new_token, pseudonym, token_hash
from voting.elections.models import Election
from voting.mail.services import queue_mail
from voting.members.models import Member

LINK_PATH = "/rosta/"


def _link_mail(election: Election, member: Member, url: str, reminder: bool) -> tuple[str, str]:
    closes = election.local(election.voting_closes).strftime("%Y-%m-%d %H:%M")
    subject = (
        f"Påminnelse: rösta i {election.title}" if reminder else f"Din röstlänk: {election.title}"
    )
    body = (
        f"Hej {member.first_name},\n\n"
        + ("Du har ännu inte röstat. " if reminder else "")
        + f"Här är din personliga länk för att rösta i {election.title}:\n\n{url}\n\n"
        f"Röstningen pågår till och med {closes} ({election.timezone}). Du kan rösta en gång, "
        "på kandidater i din egen krets. Dela inte länken med någon.\n\n"
        "Din röst är hemlig: servern kan bevisa att varje röst kommer från en röstberättigad "
        "medlem, men inte vems röst som är vems.\n\n"
        "-- \nHello! This is your personal link to vote in the election above. "
        f"Voting closes {closes} ({election.timezone}). Do not share the link.\n"
    )
    return subject, body


def _issue(
    session: Session,
    election: Election,
    member: Member,
    now: datetime,
    base_url: str,
    reminder: bool,
) -> None:
    token = new_token()
    session.add(
        VoterLink(
            election_id=election.id,
            member_id=member.member_id,
            token_hash=token_hash(token),
            created_at=now,
        )
    )
    if member.email:
        subject, body = _link_mail(
            election, member, base_url.rstrip("/") + LINK_PATH + token, reminder
        )
        queue_mail(session, to=member.email, subject=subject, body=body, kind="voter_link", now=now)


def _active_links(session: Session, election: Election) -> set[str]:
    return set(
        session.scalars(
            select(VoterLink.member_id).where(
                VoterLink.election_id == election.id, VoterLink.revoked_at.is_(None)
            )
        )
    )


def send_links(session: Session, election: Election, now: datetime, base_url: str) -> int:
    """Queue a link to every member of the roll who has none yet; freezes the roll if needed."""
    if now > election.voting_closes:
        raise TransitionBlocked(["voting has closed"])
    if not roll_frozen(session, election):
        freeze_roll(session, election, now)
    have = _active_links(session, election)
    members = session.scalars(
        select(Member)
        .join(RollEntry, RollEntry.member_id == Member.member_id)
        .where(RollEntry.election_id == election.id)
        .order_by(Member.member_id)
    )
    count = 0
    for member in members:
        if member.member_id not in have:
            _issue(session, election, member, now, base_url, reminder=False)
            count += 1
    append(session, election.slug, "links.sent", {"count": count}, now)
    session.flush()
    return count


def _revoke(session: Session, election: Election, member_id: str, now: datetime) -> None:
    for link in session.scalars(
        select(VoterLink).where(
            VoterLink.election_id == election.id,
            VoterLink.member_id == member_id,
            VoterLink.revoked_at.is_(None),
        )
    ):
        link.revoked_at = now


def resend_link(
    session: Session, election: Election, member: Member, now: datetime, base_url: str
) -> None:
    """Revoke the member's link and mail a new one."""
    if now > election.voting_closes:
        raise TransitionBlocked(["voting has closed"])
    if not session.scalar(
        select(RollEntry.id).where(
            RollEntry.election_id == election.id, RollEntry.member_id == member.member_id
        )
    ):
        raise VotingError("the member is not on the electoral roll")
    if not member.email:
        raise VotingError("the member has no email address in the register")
    _revoke(session, election, member.member_id, now)
    _issue(session, election, member, now, base_url, reminder=False)
    append(session, election.slug, "links.resent", {"voter": pseudonym(member.member_id)}, now)
    session.flush()


def remind(session: Session, election: Election, now: datetime, base_url: str) -> int:
    """Mail a fresh link to every member of the roll who has not received a signature."""
    if not election.voting_open(now):
        raise TransitionBlocked(["voting is not open"])
    signed = set(
        session.scalars(
            select(SignatureIssued.voter)
            .join(RollEntry, RollEntry.contest_id == SignatureIssued.contest_id)
            .where(RollEntry.election_id == election.id)
            .distinct()
        )
    )
    count = 0
    members = session.scalars(
        select(Member)
        .join(RollEntry, RollEntry.member_id == Member.member_id)
        .where(RollEntry.election_id == election.id)
        .order_by(Member.member_id)
    )
    for member in members:
        if pseudonym(member.member_id) in signed or not member.email:
            continue
        # The old token is only stored hashed, so a reminder carries a new link.
        _revoke(session, election, member.member_id, now)
        _issue(session, election, member, now, base_url, reminder=True)
        count += 1
    append(session, election.slug, "links.reminded", {"count": count}, now)
    session.flush()
    return count


def authenticate(session: Session, token: str, now: datetime) -> VoterLink:
    """The live link for ``token``; Unauthenticated if unknown, revoked or long past the close."""
    link = session.scalar(select(VoterLink).where(VoterLink.token_hash == token_hash(token)))
    if link is None or link.revoked_at is not None:
        raise Unauthenticated(
            "this voting link is not valid (it may have been replaced by a newer one)"
        )
    election = session.get(Election, link.election_id)
    if election is None or now > election.voting_closes + LINK_GRACE:
        raise Unauthenticated("this voting link has expired")
    return link
