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

from auditlog.events import LINKS_REMINDED, LINKS_RESENT, LINKS_SENT
from voting.ballot.codes import check_url, member_code, read_code, with_voter_code
from voting.ballot.errors import NoVote, Unauthenticated
from voting.ballot.models import LETTER, RollEntry, SignatureIssued, VoterLink
from voting.ballot.services import LINK_GRACE, contest_holds_vote, published_candidates, roll_frozen
from voting.crypto import new_token, pseudonym, token_hash
from voting.elections.models import SIGN_IN_EID, SIGN_IN_LINK_EID, Contest, Election
from voting.errors import Blocker, TransitionBlocked, VotingError
from voting.log.services import Actor, append
from voting.mail.models import OutboxMessage
from voting.mail.services import outbox_row, queue_many
from voting.members.models import Channel, Member

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
    contest_id: int | None = None
    code: str | None = None  # the voter code; None on a roll frozen before codes existed
    channel: str = Channel.EMAIL


def _link_mail(election: Election, member: Any, url: str, reminder: bool) -> tuple[str, str]:
    closes = election.local(election.voting_closes).strftime("%Y-%m-%d %H:%M")
    if election.sign_in == SIGN_IN_EID:
        # No link: the mail only announces the vote; ``url`` is the election's voting page.
        subject = (
            f"Påminnelse: rösta i {election.title}"
            if reminder
            else f"Dags att rösta: {election.title}"
        )
        body = (
            f"Hej {member.first_name},\n\n"
            + ("Du har ännu inte röstat. " if reminder else "")
            + f"Nu kan du rösta i {election.title}. Gå till\n\n{url}\n\n"
            "och logga in med e-legitimation (BankID eller Freja eID). Du behöver ingen "
            f"röstlänk. Röstningen pågår till och med {closes} ({election.timezone}). Du kan "
            "rösta en gång, på kandidater i din egen krets.\n\n"
            "Din röst är hemlig: servern kan bevisa att varje röst kommer från en röstberättigad "
            "medlem, men inte vems röst som är vems.\n\n"
            "-- \nHello! Voting in the election above is open. Go to the address above and sign "
            f"in with Swedish eID (BankID or Freja eID). Voting closes {closes} "
            f"({election.timezone}).\n"
        )
        return subject, body
    both = election.sign_in == SIGN_IN_LINK_EID
    subject = (
        f"Påminnelse: rösta i {election.title}" if reminder else f"Din röstlänk: {election.title}"
    )
    body = (
        f"Hej {member.first_name},\n\n"
        + ("Du har ännu inte röstat. " if reminder else "")
        + f"Här är din personliga länk för att rösta i {election.title}:\n\n{url}\n\n"
        + (
            "När du har öppnat länken loggar du också in med e-legitimation (BankID eller Freja "
            "eID), så att bara du kan rösta med den.\n\n"
            if both
            else ""
        )
        + f"Röstningen pågår till och med {closes} ({election.timezone}). Du kan rösta en gång, "
        "på kandidater i din egen krets. Dela inte länken med någon.\n\n"
        "Din röst är hemlig: servern kan bevisa att varje röst kommer från en röstberättigad "
        "medlem, men inte vems röst som är vems.\n\n"
        "-- \nHello! This is your personal link to vote in the election above. "
        + (
            "After opening it you also sign in with Swedish eID (BankID or Freja eID). "
            if both
            else ""
        )
        + f"Voting closes {closes} ({election.timezone}). Do not share the link.\n"
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
    public_page = base_url.rstrip("/") + f"/val/{election.slug}/rosta"
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
            # In eid mode the token is never mailed (the row only records who was told): the
            # mail points to the election's voting page, where eID is the credential.
            url = prefix + token if election.needs_link else public_page
            subject, body = _link_mail(election, member, url, reminder)
            body = with_voter_code(body, member.code, check_url(base_url, election))
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
        select(
            Member.member_id,
            Member.first_name,
            Member.email,
            Member.email_bounced_at,
            RollEntry.contest_id,
            RollEntry.code_enc,
            Member.channel,
        )
        .join(RollEntry, RollEntry.member_id == Member.member_id)
        .where(RollEntry.election_id == election.id)
        .order_by(Member.member_id)
    ).all()
    for member_id, first_name, email, bounced_at, contest_id, code_enc, channel in rows:
        code = read_code(election, member_id, code_enc)
        bounced = bounced_at is not None
        yield _Recipient(member_id, first_name, email, bounced, contest_id, code, channel)


def _without_vote(session: Session, election: Election) -> dict[int, Contest]:
    """The election's contests in which no vote is held, by id."""
    return {c.id: c for c in election.contests if not contest_holds_vote(session, c)}


NO_VOTE_KIND = "no_vote_notice"


def _no_vote_mail(
    session: Session, election: Election, contest: Contest, member: _Recipient
) -> tuple[str, str]:
    names = [n.member.full_name for n in published_candidates(session, contest)]
    krets = contest.krets.name
    subject = f"Ingen omröstning i din krets: {election.title}"
    if names:
        sv = (
            f"I {krets} finns inte fler kandidater än platser ({contest.seats}), så "
            f"{'kandidaten' if len(names) == 1 else 'kandidaterna'} väljs utan omröstning: "
            f"{', '.join(names)}."
        )
        en = (
            f"In {krets} there are no more candidates than seats ({contest.seats}), so the "
            f"candidates are elected without a vote: {', '.join(names)}."
        )
    else:
        sv = f"I {krets} godkändes inga kandidater, så ingen väljs där den här gången."
        en = f"No candidates were approved in {krets}, so nobody is elected there this time."
    if len(names) < contest.seats:
        sv += " Platser som ingen kandidat fyller står tomma; distriktet beslutar hur de fylls."
        en += " Seats that no candidate fills stay empty; the district decides how to fill them."
    body = (
        f"Hej {member.first_name},\n\n"
        f"I {election.title} hålls ingen omröstning i din krets. {sv}\n\n"
        "Du behöver inte göra något, och du får ingen röstlänk. Har du frågor, kontakta "
        "valberedningen.\n\n"
        f"-- \nHello! In {election.title} no vote is held in your krets. {en} "
        "You need not do anything, and you will get no voting link.\n"
    )
    return subject, body


def _send_no_vote_notices(
    session: Session, election: Election, recipients: Iterable[_Recipient], now: datetime
) -> int:
    """Tell each member of a contest without a vote, once, why they get no voting link."""
    without_vote = _without_vote(session, election)
    if not without_vote:
        return 0
    told = set(
        session.scalars(
            select(OutboxMessage.member_id).where(
                OutboxMessage.election_id == election.id, OutboxMessage.kind == NO_VOTE_KIND
            )
        )
    )
    data_key = current_app.config["DATA_KEY"]
    rows = []
    for member in recipients:
        contest = without_vote.get(member.contest_id or 0)
        if contest is None or member.member_id in told or not member.email or member.bounced:
            continue
        subject, body = _no_vote_mail(session, election, contest, member)
        rows.append(
            outbox_row(
                to=member.email,
                subject=subject,
                body=body,
                kind=NO_VOTE_KIND,
                now=now,
                data_key=data_key,
                election_id=election.id,
                member_id=member.member_id,
            )
        )
    return queue_many(session, rows)


def _active_links(session: Session, election: Election) -> set[str]:
    return set(
        session.scalars(
            select(VoterLink.member_id).where(
                VoterLink.election_id == election.id, VoterLink.revoked_at.is_(None)
            )
        )
    )


def queue_links(
    session: Session, election: Election, now: datetime, base_url: str, *, by: Actor
) -> int:
    """Queue a link to every member of the frozen roll who has none yet (lifecycle.roll's
    ``send_links`` freezes the roll first when needed).

    A member whose address bounced gets a link but no mail (the committee resends it after
    correcting the address). A member of a krets without a vote gets no link, but a notice
    that says why, once.
    """
    if now > election.voting_closes:
        raise TransitionBlocked([Blocker("voting_closed")])
    if not roll_frozen(session, election):
        raise TransitionBlocked([Blocker("roll_not_frozen")])
    have = _active_links(session, election)
    without_vote = _without_vote(session, election)
    recipients = list(_roll_recipients(session, election))
    # Why not the postal channel: the committee chose a paper ballot for these members (the kit
    # goes by post, voting/postal); a link by mail as well would be a second route to one vote.
    todo = (
        r
        for r in recipients
        if r.member_id not in have
        and (r.contest_id or 0) not in without_vote
        and r.channel != Channel.POSTAL
    )
    count = _issue_many(session, election, todo, now, base_url, reminder=False)
    notices = _send_no_vote_notices(session, election, recipients, now)
    append(
        session,
        election.slug,
        LINKS_SENT,
        {"count": count, "no_vote_notices": notices, "by": by},
        now,
    )
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


def check_resend(session: Session, election: Election, member: Member, now: datetime) -> None:
    """Raise VotingError naming why the member cannot be sent a new link now; None if they can."""
    if now > election.voting_closes:
        raise TransitionBlocked([Blocker("voting_closed")])
    contest_id = session.scalar(
        select(RollEntry.contest_id).where(
            RollEntry.election_id == election.id, RollEntry.member_id == member.member_id
        )
    )
    if contest_id is None:
        raise VotingError("the member is not on the electoral roll", code="not_on_roll")
    if not member.email:
        raise VotingError("the member has no email address in the register", code="no_email")
    if contest_id in _without_vote(session, election):
        raise NoVote("no vote is held in the member's krets; there is no link to send")
    if has_voted(session, election, member.member_id):
        # Why refuse: the new link could only say "you cannot vote again" (SECURITY.md).
        raise VotingError("the member has already voted; no new link was sent", code="voted")


def link_would_move(session: Session, election: Election, member: Member) -> bool:
    """Whether a new link would go to an address changed since the member's first link.

    Such a resend moves the member's vote to another mailbox: it needs two committee members
    (``voting.letters.moves``).
    """
    if member.email_changed_at is None:
        return False
    first = session.scalar(
        select(sa.func.min(VoterLink.created_at)).where(
            VoterLink.election_id == election.id, VoterLink.member_id == member.member_id
        )
    )
    return first is not None and member.email_changed_at > first


def resend_link(
    session: Session,
    election: Election,
    member: Member,
    now: datetime,
    base_url: str,
    *,
    by: int | str = "cli",
    approved_move: int | None = None,
) -> None:
    """Revoke the member's link and mail a new one (even to an address that bounced).

    ``by`` is the acting staff account ("cli" from the command line). A link that would move to a
    changed address is refused (``move_needs_approval``) unless ``approved_move`` names the
    approved request (``voting.letters.moves``).
    """
    check_resend(session, election, member, now)
    moved = link_would_move(session, election, member)
    if moved and approved_move is None:
        raise VotingError(
            "the address changed after the link went out: a second committee member must "
            "approve sending it there (the committee's mail page)",
            code="move_needs_approval",
        )
    session.flush()
    _revoke(session, election, [member.member_id], now)
    # The same voter code as before: it belongs to the roll entry, not to the link.
    code = member_code(session, election, member.member_id)
    recipient = _Recipient(member.member_id, member.first_name, member.email, code=code)
    _issue_many(session, election, [recipient], now, base_url, reminder=False, skip_bounced=False)
    data: dict[str, Any] = {"voter": pseudonym(member.member_id, election.slug), "by": by}
    if moved:
        data["move"] = approved_move
    append(session, election.slug, LINKS_RESENT, data, now)
    session.flush()


def remind(session: Session, election: Election, now: datetime, base_url: str, *, by: Actor) -> int:
    """Mail a fresh link to every member of the roll who has not received a signature."""
    if not election.voting_open(now):
        raise TransitionBlocked([Blocker("voting_not_open")])
    signed = set(
        session.scalars(
            select(SignatureIssued.voter)
            .join(RollEntry, RollEntry.contest_id == SignatureIssued.contest_id)
            .where(RollEntry.election_id == election.id)
            .distinct()
        )
    )
    data_key = current_app.config["DATA_KEY"]
    without_vote = _without_vote(session, election)
    # Why skip a live letter code: a reminder would revoke the code of a member who was sent a
    # letter (voting.letters); their reminder is the committee's, on paper.
    lettered = set(
        session.scalars(
            select(VoterLink.member_id).where(
                VoterLink.election_id == election.id,
                VoterLink.kind == LETTER,
                VoterLink.revoked_at.is_(None),
            )
        )
    )
    todo = [
        r
        for r in _roll_recipients(session, election)
        if r.email
        and r.member_id not in lettered
        and r.channel != Channel.POSTAL
        and not r.bounced
        and (r.contest_id or 0) not in without_vote
        and pseudonym(r.member_id, election.slug, data_key) not in signed
    ]
    # The old token is only stored hashed, so a reminder carries a new link.
    _revoke(session, election, [r.member_id for r in todo], now)
    count = _issue_many(session, election, todo, now, base_url, reminder=True)
    append(session, election.slug, LINKS_REMINDED, {"count": count, "by": by}, now)
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
