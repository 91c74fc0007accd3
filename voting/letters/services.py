"""Voting letters: issuing the codes, storing the PDF for one download, and replacing a letter.

A letter's code is a voter link of kind ``letter`` (same table, same revocation, same
one-signature rule): ``/rosta/kod`` turns it into the same voter session as an emailed link.
The log records counts and the acting staff account, never which member got a letter.
docs/letters.md describes the workflow; SECURITY.md ("Voting letters") the reasoning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auditlog.events import LETTERS_DOWNLOADED, LETTERS_ISSUED, LETTERS_MOVE_ASKED, LETTERS_REPLACED
from voting.ballot.codes import read_code
from voting.ballot.errors import NoVote, Unauthenticated
from voting.ballot.models import LETTER, LinkMove, RollEntry, SignatureIssued, VoterLink
from voting.ballot.services import LINK_GRACE, contest_holds_vote, roll_frozen
from voting.crypto import decrypt, encrypt, keyed_hash, pseudonym
from voting.elections.models import Contest, Election
from voting.errors import Blocker, TransitionBlocked, VotingError
from voting.letters.codes import code_hash, new_code, normalize
from voting.letters.models import LetterBatch
from voting.letters.pdf import Letter, LetterContext, render
from voting.log.services import Actor, append
from voting.mail.models import OutboxMessage
from voting.members.models import Channel, Member
from voting.members.services import member_address

PDF_PURPOSE = "letters-pdf"  # AES-GCM of a waiting letters PDF
ADDRESS_HASH_PURPOSE = "letter-address"  # HMAC of the address a letter went to
LINK_MAIL_KIND = "voter_link"  # voting.ballot.links: the outbox kind of a mailed link
BATCH = 1000


class LetterCodeError(Unauthenticated):
    """A typed letter code that opens nothing; ``code`` says why, in the member's terms:
    ``malformed``, ``unknown``, ``replaced`` or ``expired``."""


@dataclass
class Issued:
    """What a run of letters did: the stored batch (None if no letter was due) and counts."""

    batch: LetterBatch | None
    count: int
    skipped: dict[str, int] = field(default_factory=dict)


def letter_contact(config: Mapping[str, Any]) -> dict[str, Any]:
    """The committee's contact details as a letter prints them (the settings of every page)."""

    def setting(name: str) -> str | None:
        value = config.get(name)
        return str(value).strip() or None if value else None

    return {
        "name": setting("COMMITTEE_CONTACT_NAME"),
        "email": setting("COMMITTEE_CONTACT_EMAIL") or setting("CONTACT_COMMITTEE"),
        "phone": setting("COMMITTEE_CONTACT_PHONE"),
    }


def address_hash(address: dict[str, str]) -> str:
    """The keyed hash of an address that a letter row keeps: enough to see it changed."""
    canonical = json.dumps(address, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return keyed_hash(canonical, ADDRESS_HASH_PURPOSE)


def _signed(session: Session, election: Election) -> set[str]:
    return set(
        session.scalars(
            select(SignatureIssued.voter)
            .join(RollEntry, RollEntry.contest_id == SignatureIssued.contest_id)
            .where(RollEntry.election_id == election.id)
            .distinct()
        )
    )


def _revoke(session: Session, election: Election, member_ids: list[str], now: datetime) -> None:
    """Revoke every live link and letter code of these members in the election."""
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


def letter_would_move(
    session: Session, election: Election, member: Member, address: dict[str, str] | None = None
) -> bool:
    """Whether a letter now would move the member's vote to where it did not go before.

    A move is a letter to an address other than that of the member's first letter, or a first
    letter to a member who was already mailed a voting link. Like a moved link it needs two
    committee members (``ask_move``).
    """
    address = address if address is not None else member_address(member)
    first = session.scalar(
        select(VoterLink.address_hash)
        .where(
            VoterLink.election_id == election.id,
            VoterLink.member_id == member.member_id,
            VoterLink.kind == LETTER,
        )
        .order_by(VoterLink.created_at, VoterLink.id)
        .limit(1)
    )
    if first is not None:
        return address is None or first != address_hash(address)
    mailed = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.election_id == election.id,
            OutboxMessage.member_id == member.member_id,
            OutboxMessage.kind == LINK_MAIL_KIND,
        )
        .limit(1)
    )
    return mailed is not None


def _context(election: Election, base_url: str, contact: dict[str, Any]) -> LetterContext:
    return LetterContext(election=election, base_url=base_url.rstrip("/"), contact=contact)


def _store(
    session: Session, election: Election, pdf: bytes, count: int, now: datetime
) -> LetterBatch:
    batch = LetterBatch(election_id=election.id, created_at=now, letters=count)
    # Why encrypted with the election as associated data: the PDF holds voting codes in clear.
    batch.pdf_enc = encrypt(pdf, PDF_PURPOSE, aad=election.slug.encode())
    session.add(batch)
    session.flush()
    return batch


def _issue(
    session: Session,
    election: Election,
    rows: Iterable[tuple[Member, Contest, bytes | None, dict[str, str]]],
    now: datetime,
) -> list[Letter]:
    """Revoke the members' live credentials and insert a fresh letter code for each."""
    todo = list(rows)
    _revoke(session, election, [m.member_id for m, _c, _e, _a in todo], now)
    letters, inserts = [], []
    table = cast(sa.Table, VoterLink.__table__)
    for member, contest, code_enc, address in todo:
        code = new_code() if election.needs_link else None
        # In an eID-only election no code is a credential: the letter only tells the way, and
        # the row only records that the member was told (as send_links does for mail).
        secret = code if code is not None else new_code() + ":eid"
        inserts.append(
            {
                "election_id": election.id,
                "member_id": member.member_id,
                "token_hash": code_hash(secret),
                "created_at": now,
                "revoked_at": None,
                "kind": LETTER,
                "address_hash": address_hash(address),
            }
        )
        letters.append(
            Letter(
                name=member.full_name,
                address=address,
                krets=contest.krets.name,
                code=code,
                voter_code=read_code(election, member.member_id, code_enc),
            )
        )
        if len(inserts) >= BATCH:
            session.execute(sa.insert(table), inserts)
            inserts.clear()
    if inserts:
        session.execute(sa.insert(table), inserts)
    return letters


def _check_open(session: Session, election: Election, now: datetime) -> None:
    if now > election.voting_closes:
        raise TransitionBlocked([Blocker("voting_closed")])
    if not roll_frozen(session, election):
        raise TransitionBlocked([Blocker("roll_not_frozen")])


def issue_letters(
    session: Session,
    election: Election,
    now: datetime,
    base_url: str,
    contact: dict[str, Any],
    *,
    by: Actor,
) -> Issued:
    """A letter to every member of the frozen roll whose channel is ``letter``, as one PDF.

    Each gets a new code; their older codes (and any link) stop working, and letters not yet
    downloaded are discarded. Skipped, and counted: members who have voted, whose krets holds no
    vote, with no postal address, or whose letter would move (two committee members, one by one).
    """
    _check_open(session, election, now)
    rows = session.execute(
        select(Member, RollEntry.contest_id, RollEntry.code_enc)
        .join(RollEntry, RollEntry.member_id == Member.member_id)
        .where(RollEntry.election_id == election.id, Member.channel == Channel.LETTER.value)
        .order_by(Member.krets_code, Member.last_name, Member.first_name, Member.member_id)
    ).all()
    contests = {c.id: c for c in election.contests}
    holds = {cid: contest_holds_vote(session, c) for cid, c in contests.items()}
    signed = _signed(session, election)
    skipped = {"voted": 0, "no_vote": 0, "no_address": 0, "needs_approval": 0}
    todo = []
    for member, contest_id, code_enc in rows:
        address = member_address(member)
        if not holds[contest_id]:
            skipped["no_vote"] += 1
        elif pseudonym(member.member_id, election.slug) in signed:
            skipped["voted"] += 1
        elif address is None:
            skipped["no_address"] += 1
        elif letter_would_move(session, election, member, address):
            skipped["needs_approval"] += 1
        else:
            todo.append((member, contests[contest_id], code_enc, address))
    # Why discard the waiting PDFs: their codes are about to be revoked; printing them would
    # send members letters that do not work.
    session.execute(
        update(LetterBatch)
        .where(LetterBatch.election_id == election.id, LetterBatch.pdf_enc.is_not(None))
        .values(pdf_enc=None)
        .execution_options(synchronize_session=False)
    )
    if not todo and not any(skipped.values()):
        return Issued(None, 0)  # no letter members: nothing to do, nothing to log
    letters = _issue(session, election, todo, now)
    batch = None
    if letters:
        pdf = render(letters, _context(election, base_url, contact))
        batch = _store(session, election, pdf, len(letters), now)
    data: dict[str, Any] = {"count": len(letters), "by": by}
    data.update({k: v for k, v in skipped.items() if v})
    append(session, election.slug, LETTERS_ISSUED, data, now)
    session.flush()
    return Issued(batch, len(letters), {k: v for k, v in skipped.items() if v})


def check_replace(session: Session, election: Election, member: Member, now: datetime) -> Contest:
    """Raise VotingError naming why the member cannot get a new letter now; their contest."""
    _check_open(session, election, now)
    contest_id = session.scalar(
        select(RollEntry.contest_id).where(
            RollEntry.election_id == election.id, RollEntry.member_id == member.member_id
        )
    )
    if contest_id is None:
        raise VotingError("the member is not on the electoral roll", code="not_on_roll")
    if member.channel != Channel.LETTER.value:
        raise VotingError("the member's channel is not letter", code="not_letter")
    if member.address_enc is None:
        raise VotingError("the member has no postal address in the register", code="no_address")
    contest = session.get_one(Contest, contest_id)
    if not contest_holds_vote(session, contest):
        raise NoVote("no vote is held in the member's krets; there is no letter to send")
    if pseudonym(member.member_id, election.slug) in _signed(session, election):
        # Why refuse: the new code could only say "you have voted" (as for links).
        raise VotingError("the member has already voted; no new letter was made", code="voted")
    return contest


def replace_letter(
    session: Session,
    election: Election,
    member: Member,
    now: datetime,
    base_url: str,
    contact: dict[str, Any],
    *,
    by: Actor,
    approved_move: int | None = None,
) -> LetterBatch:
    """A new letter for one member: their old code (and any link) stops working.

    A letter that would move the vote (``letter_would_move``) is refused
    (``move_needs_approval``) unless ``approved_move`` names the approved request.
    """
    contest = check_replace(session, election, member, now)
    address = member_address(member) or {}  # check_replace: the member has one
    moved = letter_would_move(session, election, member, address)
    if moved and approved_move is None:
        raise VotingError(
            "the letter would go where the member's vote did not go before (a changed address, "
            "or a member who was mailed a link): a second committee member must approve it",
            code="move_needs_approval",
        )
    code_enc = session.scalar(
        select(RollEntry.code_enc).where(
            RollEntry.election_id == election.id, RollEntry.member_id == member.member_id
        )
    )
    letters = _issue(session, election, [(member, contest, code_enc, address)], now)
    batch = _store(
        session, election, render(letters, _context(election, base_url, contact)), 1, now
    )
    data: dict[str, Any] = {"count": 1, "by": by}
    if moved:
        data["move"] = approved_move
    append(session, election.slug, LETTERS_REPLACED, data, now)
    session.flush()
    return batch


def ask_move(
    session: Session,
    election: Election,
    member: Member,
    by: int,
    now: datetime,
    cutoff: timedelta,
) -> LinkMove:
    """Ask for a letter that would move the member's vote; it waits for a second committee
    member, on the mail page with the moved links (``voting.letters.moves.decide``)."""
    check_replace(session, election, member, now)
    if now > election.voting_closes - cutoff:
        hours = int(cutoff.total_seconds() // 3600)
        raise TransitionBlocked([Blocker("letter_move_too_late", {"hours": hours})])
    if not letter_would_move(session, election, member):
        raise VotingError("the letter would not move the member's vote", code="no_move")
    existing = session.scalar(
        select(LinkMove).where(
            LinkMove.election_id == election.id,
            LinkMove.member_id == member.member_id,
            LinkMove.status == "pending",
        )
    )
    if existing is not None:
        return existing
    move = LinkMove(election_id=election.id, member_id=member.member_id, asked_by=by, asked_at=now)
    move.status, move.kind = "pending", LETTER
    session.add(move)
    session.flush()
    append(session, election.slug, LETTERS_MOVE_ASKED, {"move": move.id, "by": by}, now)
    return move


def waiting(session: Session, election: Election) -> list[tuple[int, datetime, int]]:
    """The election's letters PDFs not yet downloaded: (id, created, letters), oldest first."""
    rows = session.execute(
        select(LetterBatch.id, LetterBatch.created_at, LetterBatch.letters)
        .where(LetterBatch.election_id == election.id, LetterBatch.pdf_enc.is_not(None))
        .order_by(LetterBatch.created_at, LetterBatch.id)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def download(
    session: Session, election: Election, batch_id: int, now: datetime, *, by: Actor
) -> bytes:
    """The batch's PDF, once: it is deleted from the database as it is handed out."""
    batch = session.scalars(
        select(LetterBatch)
        .where(LetterBatch.id == batch_id, LetterBatch.election_id == election.id)
        .with_for_update()
    ).one_or_none()
    if batch is None or batch.pdf_enc is None:
        raise VotingError(
            "no such letters waiting: they were downloaded already, or replaced by newer ones",
            code="no_letters",
        )
    pdf = decrypt(batch.pdf_enc, PDF_PURPOSE, aad=election.slug.encode())
    # Why delete: the codes exist nowhere else; once printed, a copy here only adds risk.
    batch.pdf_enc, batch.downloaded_at = None, now
    append(session, election.slug, LETTERS_DOWNLOADED, {"count": batch.letters, "by": by}, now)
    session.flush()
    return pdf


def authenticate_code(session: Session, text: str, now: datetime) -> VoterLink:
    """The live letter code that ``text`` is; LetterCodeError naming why it opens nothing."""
    code = normalize(text)
    if code is None:
        raise LetterCodeError(
            "the code is not 16 symbols of the letter's alphabet", code="malformed"
        )
    link = session.scalar(
        select(VoterLink).where(VoterLink.token_hash == code_hash(code), VoterLink.kind == LETTER)
    )
    if link is None:
        raise LetterCodeError("no letter has this code", code="unknown")
    if link.revoked_at is not None:
        raise LetterCodeError("this code was replaced by a newer letter", code="replaced")
    election = session.get(Election, link.election_id)
    if election is None or now > election.voting_closes + LINK_GRACE:
        raise LetterCodeError("this code has expired", code="expired")
    return link


def letter_members(session: Session, election: Election) -> dict[str, int]:
    """Counts for the committee's page: letter members on the roll, and live letter codes."""
    on_roll = session.scalar(
        select(sa.func.count())
        .select_from(RollEntry)
        .join(Member, Member.member_id == RollEntry.member_id)
        .where(RollEntry.election_id == election.id, Member.channel == Channel.LETTER.value)
    )
    live = session.scalar(
        select(sa.func.count())
        .select_from(VoterLink)
        .where(
            VoterLink.election_id == election.id,
            VoterLink.kind == LETTER,
            VoterLink.revoked_at.is_(None),
        )
    )
    return {"on_roll": on_roll or 0, "live_codes": live or 0}
