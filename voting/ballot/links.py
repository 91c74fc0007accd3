"""Voting links: one per member of the roll, emailed, stored only as a hash.

A voting link is not single-use like the other emailed links: the same link must let the
member come back after the close to see whether a signature was issued in their name, and
a non-browser client uses it as a bearer token. What makes it "one vote" is the database's
at-most-one-signature rule. It stops working when revoked (on resend) and after the grace time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from voting.audit.services import append
from voting.ballot.errors import TransitionBlocked, Unauthenticated, VotingError
from voting.ballot.models import RollEntry, SignatureIssued, VoterLink
from voting.ballot.services import LINK_GRACE, freeze_roll, roll_frozen
from voting.crypto import new_token, pseudonym, token_hash
from voting.elections.models import Election
from voting.mail.services import outbox_row, queue_many
from voting.members.models import Member

LINK_PATH = "/rosta/"
# Members per batch when links are issued in bulk: each batch is two multi-row INSERTs.
BATCH = 1000


@dataclass(frozen=True)
class _Recipient:
    """What a link mail needs of a member; a plain row, not an ORM object (bulk issuing)."""

    member_id: str
    first_name: str
    email: str | None
    bounced: bool = False


def _link_mail(election: Election, member: Any, url: str, reminder: bool) -> tuple[str, str]:
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


def _issue_many(
    session: Session,
    election: Election,
    recipients: Iterable[_Recipient],
    now: datetime,
    base_url: str,
    reminder: bool,
    *,
    skip_bounced: bool = True,
) -> int:
    """Issue a new link to each recipient and queue its mail; batched Core INSERTs.

    Only the token's hash is stored; the token itself exists only in the (encrypted) mail body.
    """
    data_key = current_app.config["DATA_KEY"]
    prefix = base_url.rstrip("/") + LINK_PATH
    link_table = cast(sa.Table, VoterLink.__table__)
    count = 0
    links: list[dict[str, Any]] = []
    mails: list[dict[str, Any]] = []

    def flush() -> None:
        if links:
            session.execute(sa.insert(link_table), links)
            links.clear()
        if mails:
            queue_many(session, mails)
            mails.clear()

    for member in recipients:
        token = new_token()
        links.append(
            {
                "election_id": election.id,
                "member_id": member.member_id,
                "token_hash": token_hash(token),
                "created_at": now,
                "revoked_at": None,
            }
        )
        # Why skip a bounced address: the server refused it for good; mailing it again only
        # harms the sender's reputation. The committee corrects the address and resends.
        if member.email and not (skip_bounced and member.bounced):
            subject, body = _link_mail(election, member, prefix + token, reminder)
            mails.append(
                outbox_row(
                    to=member.email,
                    subject=subject,
                    body=body,
                    kind="voter_link",
                    now=now,
                    data_key=data_key,
                    election_id=election.id,
                    member_id=member.member_id,
                )
            )
        count += 1
        if len(links) >= BATCH:
            flush()
    flush()
    return count


def _roll_recipients(session: Session, election: Election) -> Iterator[_Recipient]:
    """The roll's members in member-ID order, as plain rows."""
    rows = session.execute(
        select(Member.member_id, Member.first_name, Member.email, Member.email_bounced_at)
        .join(RollEntry, RollEntry.member_id == Member.member_id)
        .where(RollEntry.election_id == election.id)
        .order_by(Member.member_id)
    ).all()
    for member_id, first_name, email, bounced_at in rows:
        yield _Recipient(member_id, first_name, email, bounced_at is not None)


def _active_links(session: Session, election: Election) -> set[str]:
    return set(
        session.scalars(
            select(VoterLink.member_id).where(
                VoterLink.election_id == election.id, VoterLink.revoked_at.is_(None)
            )
        )
    )


def send_links(session: Session, election: Election, now: datetime, base_url: str) -> int:
    """Queue a link to every member of the roll who has none yet; freezes the roll if needed.

    A member whose address bounced gets a link but no mail (the committee resends it after
    correcting the address).
    """
    if now > election.voting_closes:
        raise TransitionBlocked(["voting has closed"])
    if not roll_frozen(session, election):
        freeze_roll(session, election, now)
    have = _active_links(session, election)
    todo = (r for r in _roll_recipients(session, election) if r.member_id not in have)
    count = _issue_many(session, election, todo, now, base_url, reminder=False)
    append(session, election.slug, "links.sent", {"count": count}, now)
    session.flush()
    return count


def _revoke(session: Session, election: Election, member_ids: list[str], now: datetime) -> None:
    for start in range(0, len(member_ids), BATCH):
        session.execute(
            update(VoterLink)
            .where(
                VoterLink.election_id == election.id,
                VoterLink.member_id.in_(member_ids[start : start + BATCH]),
                VoterLink.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )


def has_voted(session: Session, election: Election, member_id: str) -> bool:
    """Whether a blind signature was issued to the member in this election (they have voted)."""
    voter = pseudonym(member_id, election.slug)
    return (
        session.scalar(
            select(SignatureIssued.contest_id)
            .join(RollEntry, RollEntry.contest_id == SignatureIssued.contest_id)
            .where(
                RollEntry.election_id == election.id,
                RollEntry.member_id == member_id,
                SignatureIssued.voter == voter,
            )
        )
        is not None
    )


def resend_link(
    session: Session, election: Election, member: Member, now: datetime, base_url: str
) -> None:
    """Revoke the member's link and mail a new one (even to an address that bounced)."""
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
    if has_voted(session, election, member.member_id):
        # Why refuse: the new link could only say "you cannot vote again" (SECURITY.md).
        raise VotingError("the member has already voted; no new link was sent")
    session.flush()
    _revoke(session, election, [member.member_id], now)
    recipient = _Recipient(member.member_id, member.first_name, member.email)
    _issue_many(session, election, [recipient], now, base_url, reminder=False, skip_bounced=False)
    append(
        session,
        election.slug,
        "links.resent",
        {"voter": pseudonym(member.member_id, election.slug)},
        now,
    )
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
    data_key = current_app.config["DATA_KEY"]
    todo = [
        r
        for r in _roll_recipients(session, election)
        if r.email
        and not r.bounced
        and pseudonym(r.member_id, election.slug, data_key) not in signed
    ]
    # The old token is only stored hashed, so a reminder carries a new link.
    _revoke(session, election, [r.member_id for r in todo], now)
    count = _issue_many(session, election, todo, now, base_url, reminder=True)
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
