"""An election mid-vote in which some members are on the letter channel, set up as the
scheduler does at the voting open: roll frozen, letters made, then links mailed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from ballots.client import VoterClient
from tests.ballot.conftest import BEFORE, DURING, ELECTION, MEMBERS, NOMINEES, flask_transport
from tests.factories import link_tokens, member_row, publish_with_keys
from voting.crypto import encrypt
from voting.db import db
from voting.elections.services import create_election, get_election
from voting.letters import services
from voting.lifecycle.roll import freeze_roll, send_links
from voting.members.importing import ADDRESS_PURPOSE
from voting.members.models import Member

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


def setup_letters(clock, rsa_keys, base_url: str = "http://localhost") -> LetterSetup:
    """Four email members and two letter members (S4, B2), mid-vote, letters made at the open."""
    clock.set(BEFORE)
    with db.transaction() as s:
        election = create_election(s, ELECTION, BEFORE, by="cli")
        s.flush()
        for member_id, first, last, krets in MEMBERS:
            member = member_row(member_id, first, last, krets, BEFORE)
            if member_id in ADDRESSES:  # on the letter channel: no email, a postal address
                member.email = None
                member.channel = "letter"
                set_address(member, ADDRESSES[member_id])
            s.add(member)
        s.flush()
        candidates = publish_with_keys(s, election, NOMINEES, rsa_keys, BEFORE)
        freeze_roll(s, election, BEFORE, by="cli")
        issued = services.issue_letters(s, election, BEFORE, base_url, CONTACT, by="scheduler")
        send_links(s, election, BEFORE, base_url, by="cli")
        contest_ids = {c.krets_code: str(c.id) for c in election.contests}
        assert issued.batch is not None
        batch_id = issued.batch.id
        pdf = services.download(s, election, batch_id, BEFORE, by="cli")
    tokens = link_tokens(db.session, base_url)
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
