"""An election mid-vote in which some members are on the letter channel, set up as the
scheduler does at the voting open: roll frozen, letters made, then links mailed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from ballots.client import VoterClient
from tests.ballot.conftest import BEFORE, DURING, ELECTION, flask_transport
from voting.ballot.keys import store_contest_key
from voting.crypto import encrypt
from voting.db import db
from voting.elections.services import create_election, get_election
from voting.letters import services
from voting.lifecycle.roll import freeze_roll, send_links
from voting.members.importing import ADDRESS_PURPOSE
from voting.members.models import Member
from voting.nominations.models import Nomination, NominationStatus
from voting.nominations.review import candidate_list, list_hash

CONTACT = {"name": "Valberedningen i Distrikt Test", "email": "val@example.org", "phone": None}
ADDRESSES = {
    "S4": {"co": "", "street": "Hornsgatan 1", "postcode": "118 20", "city": "Stockholm"},
    "B2": {"co": "c/o Berg", "street": "Brommaplan 3", "postcode": "16870", "city": "Bromma"},
}


@dataclass
class LetterSetup:
    slug: str
    contests: dict[str, str]  # krets code -> contest id
    candidates: dict[str, list[str]]
    tokens: dict[str, str]  # member id -> emailed link token (email members)
    pdf: bytes  # the letters PDF made at the open
    batch_id: int


def set_address(member: Member, address: dict[str, str]) -> None:
    plain = json.dumps(address, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    member.address_enc = encrypt(plain.encode(), ADDRESS_PURPOSE, aad=member.member_id.encode())


def _member(member_id: str, first: str, last: str, krets: str, letter: bool) -> Member:
    member = Member(
        member_id=member_id,
        first_name=first,
        last_name=last,
        email=None if letter else f"{member_id}@example.org",
        krets_code=krets,
        updated_at=BEFORE,
    )
    if letter:
        member.channel = "letter"
        set_address(member, ADDRESSES[member_id])
    return member


def setup_letters(clock, rsa_keys, base_url: str = "http://localhost") -> LetterSetup:
    """Four email members and two letter members (S4, B2), mid-vote, letters made at the open."""
    clock.set(BEFORE)
    with db.transaction() as s:
        election = create_election(s, ELECTION, BEFORE, by="cli")
        s.flush()
        s.add_all(
            [
                _member("S1", "Anna", "Berg", "SODERMALM", False),
                _member("S2", "Bo", "Åberg", "SODERMALM", False),
                _member("S3", "Cecilia", "Dahl", "SODERMALM", False),
                _member("S4", "David", "Ek", "SODERMALM", True),
                _member("B1", "Eva", "Falk", "BROMMA", False),
                _member("B2", "Filip", "Gran", "BROMMA", True),
            ]
        )
        s.flush()
        contests = {c.krets_code: c for c in election.contests}
        candidates: dict[str, list[str]] = {}
        for member_id in ("S1", "S2", "S3", "B1", "B2"):
            krets = "SODERMALM" if member_id[0] == "S" else "BROMMA"
            nomination = Nomination(
                election_id=election.id,
                contest_id=contests[krets].id,
                member_id=member_id,
                status=NominationStatus.APPROVED,
                created_at=BEFORE,
            )
            s.add(nomination)
            s.flush()
            candidates.setdefault(krets, []).append(str(nomination.id))
        for contest in election.contests:
            contest.list_hash = list_hash(candidate_list(s, contest))
        election.candidates_published_at = BEFORE
        for contest, key in zip(
            sorted(election.contests, key=lambda c: c.krets_code), rsa_keys, strict=True
        ):
            store_contest_key(s, contest, key, BEFORE)
        s.flush()
        freeze_roll(s, election, BEFORE, by="cli")
        issued = services.issue_letters(s, election, BEFORE, base_url, CONTACT, by="scheduler")
        send_links(s, election, BEFORE, base_url, by="cli")
        contest_ids = {code: str(c.id) for code, c in contests.items()}
        assert issued.batch is not None
        batch_id = issued.batch.id
        pdf = services.download(s, election, batch_id, BEFORE, by="cli")
    tokens = {}
    from voting.mail.models import OutboxMessage
    from voting.mail.services import message_body

    for message in db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "voter_link")
    ):
        body = message_body(message) or ""
        tokens[message.to_addr.split("@")[0]] = body.split(f"{base_url}/rosta/", 1)[1].split()[0]
    db.session.rollback()
    clock.set(DURING)
    return LetterSetup("val-2027", contest_ids, candidates, tokens, pdf, batch_id)


@pytest.fixture
def letters(app, clock, rsa_keys, smtp) -> LetterSetup:
    return setup_letters(clock, rsa_keys)


def pdf_text(pdf: bytes) -> list[str]:
    """The text of each page of ``pdf``."""
    import io

    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


CODE_IN_TEXT = re.compile(r"\b([2-9A-HJKMNP-TV-Z]{4}(?:-[2-9A-HJKMNP-TV-Z]{4}){3})\b")


def codes_in(pdf: bytes) -> list[str]:
    """The letter codes printed in ``pdf``, one per page."""
    found = []
    for text in pdf_text(pdf):
        match = CODE_IN_TEXT.search(text)
        assert match is not None, text
        found.append(match.group(1))
    return found


def election_now():
    return get_election(db.session, "val-2027")


def session_client(client):
    """A ballots.client voter that uses the browser session (cookie + CSRF header), as a
    browser that typed its letter code does; the bearer header is dropped."""
    page = client.get("/rosta").get_data(as_text=True)
    csrf = re.search(r'data-csrf-token="([^"]*)"', page)
    header = {"X-CSRFToken": csrf.group(1)} if csrf else {}
    inner = flask_transport(client)

    def transport(method, url, headers, body):
        headers = {k: v for k, v in dict(headers).items() if k != "Authorization"}
        return inner(method, url, {**headers, **header}, body)

    return VoterClient("http://localhost", "session", transport=transport)
