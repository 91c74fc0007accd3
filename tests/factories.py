"""Test data builders: elections, members, nominations, staff, logging in, and an election
published with given keys, ready to vote."""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from voting.admin.services import PASSWORD_HASHER, create_user
from voting.ballot.keys import store_contest_key
from voting.crypto import encrypt
from voting.elections.models import Election
from voting.elections.services import create_election
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.members.models import Forening, Member
from voting.nominations.models import (
    Nomination,
    NominationStatus,
    NominationSubmission,
    SubmissionStatus,
)
from voting.nominations.review import candidate_list, list_hash
from voting.staff.models import User

PASSWORD = "correct horse battery staple"
_ids = itertools.count(1000)


def election_toml(
    slug: str,
    now: datetime,
    kretsar: tuple[tuple[str, str, int], ...],
    closes_in: timedelta = timedelta(days=1),
) -> str:
    """An election whose nomination period is open at ``now`` (closes after ``closes_in``)."""

    def iso(moment: datetime) -> str:
        return moment.isoformat()

    lines = [
        f'slug = "{slug}"',
        'title = "Kongressombudsval test"',
        'timezone = "Europe/Stockholm"',
        "[schedule]",
        f'nomination_opens = "{iso(now - timedelta(days=10))}"',
        f'nomination_closes = "{iso(now + closes_in)}"',
        f'voting_opens = "{iso(now + timedelta(days=10))}"',
        f'voting_closes = "{iso(now + timedelta(days=20))}"',
    ]
    for code, name, seats in kretsar:
        lines += ["[[krets]]", f'code = "{code}"', f'name = "{name}"', f"seats = {seats}"]
    return "\n".join(lines) + "\n"


KRETSAR = (("SODERMALM", "Södermalm", 2), ("BROMMA", "Bromma", 1))


def make_election(
    session: Session,
    now: datetime,
    slug: str = "val-test",
    kretsar: Any = KRETSAR,
    closes_in: timedelta = timedelta(days=1),
) -> Election:
    return create_election(session, election_toml(slug, now, kretsar, closes_in), now, by="cli")


def make_member(
    session: Session,
    krets: str,
    first: str,
    last: str,
    now: datetime,
    email: str | None = None,
    member_id: str | None = None,
) -> Member:
    member_id = member_id or str(next(_ids))
    if email is None:
        email = f"{re.sub(r'[^a-z]', '', first.lower())}.{member_id}@example.org"
    member = Member(
        member_id=member_id,
        first_name=first,
        last_name=last,
        email=email,
        krets_code=krets,
        updated_at=now,
    )
    session.add(member)
    session.flush()
    return member


def make_nomination(
    session: Session,
    election: Election,
    nominee: Member,
    now: datetime,
    status: str = NominationStatus.AWAITING_REVIEW,
    nominators: list[Member | Forening] | None = None,
    motivation: str | None = "Engagerad och kunnig.",
) -> Nomination:
    contest = next(c for c in election.contests if c.krets_code == nominee.krets_code)
    nomination = Nomination(
        election_id=election.id,
        contest_id=contest.id,
        member_id=nominee.member_id,
        status=status,
        created_at=now,
        responded_at=now if status != NominationStatus.AWAITING_NOMINEE else None,
    )
    session.add(nomination)
    session.flush()
    for nominator in nominators or []:
        is_forening = isinstance(nominator, Forening)
        session.add(
            NominationSubmission(
                election_id=election.id,
                nominee_member_id=nominee.member_id,
                nominator_member_id=None if is_forening else nominator.member_id,
                forening_id=nominator.id if is_forening else None,
                nominator_says_accepted=True,
                motivation=motivation,
                status=SubmissionStatus.CONFIRMED,
                submitted_at=now,
                confirmed_at=now,
                nomination_id=nomination.id,
            )
        )
    session.flush()
    return nomination


def make_staff(
    session: Session, role: str, now: datetime, email: str | None = None
) -> tuple[User, str]:
    """A staff user with the test PASSWORD; returns it and its TOTP secret."""
    return create_user(session, email or f"{role}.{next(_ids)}@example.org", role, PASSWORD, now)


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return PASSWORD_HASHER.hash(PASSWORD)


def make_staff_quick(session: Session, role: str, now: datetime) -> User:
    """Like :func:`make_staff` without hashing anew (argon2id is slow by design); no secret."""
    email = f"{role}.{next(_ids)}@example.org"
    user = User(
        email=email,
        role=role,
        password_hash=_password_hash(),
        totp_secret_enc=encrypt(pyotp.random_base32().encode(), "totp", aad=email.encode()),
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def login(client: Any, email: str, secret: str, moment: datetime, **extra: Any) -> Any:
    """POST the real login form with the code for ``moment`` (the app's clock)."""
    data = {"email": email, "password": PASSWORD, "code": pyotp.TOTP(secret).at(moment)}
    data.update(extra)
    return client.post("/admin/login", data=data)


# --- An election ready to vote -----------------------------------------------------------


def member_row(
    member_id: str, first: str, last: str, krets: str, at: datetime, *, email: str | None = ""
) -> Member:
    """A register row with a fixed member ID; ``email=""`` makes ``<member_id>@example.org``,
    ``None`` leaves the member without an address."""
    return Member(
        member_id=member_id,
        first_name=first,
        last_name=last,
        email=f"{member_id}@example.org" if email == "" else email,
        krets_code=krets,
        updated_at=at,
    )


def publish_with_keys(
    session: Session, election: Election, nominees: list[str], rsa_keys: Any, at: datetime
) -> dict[str, list[str]]:
    """Approve ``nominees`` in their kretsar, publish the lists and store the given contest keys
    (one per contest, in krets code order), as publication would but without making keys.

    Returns the candidate ids per krets code.
    """
    contests = {c.krets_code: c for c in election.contests}
    candidates: dict[str, list[str]] = {}
    for member_id in nominees:
        member = session.get_one(Member, member_id)
        nomination = Nomination(
            election_id=election.id,
            contest_id=contests[member.krets_code].id,
            member_id=member_id,
            status=NominationStatus.APPROVED,
            created_at=at,
        )
        session.add(nomination)
        session.flush()
        candidates.setdefault(member.krets_code, []).append(str(nomination.id))
    for contest in election.contests:
        contest.list_hash = list_hash(candidate_list(session, contest))
    election.candidates_published_at = at
    for contest, key in zip(
        sorted(election.contests, key=lambda c: c.krets_code), rsa_keys, strict=True
    ):
        store_contest_key(session, contest, key, at)
    session.flush()
    return candidates


def link_tokens(session: Session, base_url: str) -> dict[str, str]:
    """Each mailed voting link's token, by the local part of its address (the member ID)."""
    tokens = {}
    for message in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "voter_link")):
        body = message_body(message) or ""
        tokens[message.to_addr.split("@")[0]] = body.split(f"{base_url}/rosta/", 1)[1].split()[0]
    return tokens


def short_form(canonical: str, today: date | datetime) -> str:
    """A personnummer's 10-digit written form ``YYMMDD-NNNC``, ``+`` from the year the person
    turns 100: what a register or a member types, for the parser's property tests."""
    if isinstance(today, datetime):
        today = today.date()
    year, month, day = int(canonical[:4]), int(canonical[4:6]), int(canonical[6:8])
    real_day = day - 60 if day > 60 else day  # a samordningsnummer's day is the birthday + 60
    # Skatteverket switches to "+" in the year of the 100th birthday; the parser needs the
    # birthday itself to have passed, which the stricter comparison below matches.
    sep = "+" if (year + 100, month, real_day) <= (today.year, today.month, today.day) else "-"
    return f"{canonical[2:8]}{sep}{canonical[8:]}"
