"""Fixtures for the nomination tests: an election, a small register, outbox reading."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from PIL import Image
from sqlalchemy import select

from voting.crypto import encrypt, keyed_hash
from voting.db import db
from voting.elections.services import create_election
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.members.models import Forening, Member
from voting.members.pnr import make_personnummer

SLUG = "kongress-2027"
ELECTION_TOML = """
slug = "kongress-2027"
title = "Kongressombudsval 2027"
timezone = "Europe/Stockholm"
[schedule]
nomination_opens = "2026-10-01T00:00"
nomination_closes = "2026-11-30T23:59:59"
voting_opens = "2027-01-12T00:00"
voting_closes = "2027-01-25T23:59:59"
[[krets]]
code = "SODERMALM"
name = "Södermalm"
seats = 3
[[krets]]
code = "NORRMALM"
name = "Norrmalm"
seats = 2
"""
# Mid-window, in UTC.
DURING = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
NOMINEE_PNR = make_personnummer(date(1980, 5, 17), 123)


@dataclass
class Register:
    election_id: int
    slug: str
    forening_id: int
    other_forening_id: int


def add_member(session, member_id, first, last, email, krets, pnr=None):
    """Insert one register row directly (the import feature is tested elsewhere)."""
    member = Member(
        member_id=member_id,
        first_name=first,
        last_name=last,
        email=email,
        krets_code=krets,
        updated_at=DURING,
    )
    if pnr:
        member.personnummer_enc = encrypt(pnr.encode(), "personnummer", aad=member_id.encode())
        member.personnummer_lookup = keyed_hash(pnr, "personnummer-lookup")
    session.add(member)
    return member


@pytest.fixture
def register(app, clock):
    """Election open for nominations; members in Södermalm and Norrmalm; two föreningar."""
    clock.set(DURING)
    with db.transaction() as s:
        election = create_election(s, ELECTION_TOML, DURING, by="cli")
        add_member(s, "1001", "Anna", "Svensson", "anna@example.org", "SODERMALM")
        add_member(s, "1002", "Karl Johan", "Berg", "karl@example.org", "SODERMALM", NOMINEE_PNR)
        add_member(s, "1003", "Eva", "Lind", "eva@example.org", "SODERMALM")
        add_member(s, "1004", "Olle", "Nord", "olle@example.org", "NORRMALM")
        add_member(s, "1005", "Nils", "Utan", None, "SODERMALM")
        soder = Forening(
            name="S-föreningen Söder", krets_code="SODERMALM", contact_email="soder@example.org"
        )
        norr = Forening(
            name="S-föreningen Norr", krets_code="NORRMALM", contact_email="norr@example.org"
        )
        s.add_all([soder, norr])
        s.flush()
        result = Register(election.id, election.slug, soder.id, norr.id)
    db.session.close()
    return result


def form_data(**overrides):
    """A valid questionnaire from member Anna nominating Karl Johan Berg by member ID."""
    data = {
        "nominator_email": "anna@example.org",
        "nominating_as": "member",
        "forening_id": "",
        "nominee_first_name": "Karl",
        "nominee_last_name": "Berg",
        "nominee_identifier": "1002",
        "motivation": "Erfaren och engagerad.",
    }
    data.update(overrides)
    return data


def mails(to=None):
    """(subject, body) of the queued outbox messages, oldest first, optionally to one address."""
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if to:
        query = query.where(OutboxMessage.to_addr == to)
    return [(m.subject, message_body(m)) for m in db.session.scalars(query)]


LINK = re.compile(r"https?://\S+/(nominera/bekrafta|kandidat)/([A-Za-z0-9_-]+)")


def link_in(body, kind="nominera/bekrafta"):
    """The path of the first link of ``kind`` in a mail body."""
    for match in LINK.finditer(body):
        if match.group(1) == kind:
            return f"/{kind}/{match.group(2)}"
    raise AssertionError(f"no {kind} link in:\n{body}")


def rows(model, *where):
    """All rows of ``model`` (fresh from the database)."""
    return list(db.session.scalars(select(model).where(*where)))


def image_bytes(fmt="PNG", size=(1200, 900), color=(200, 30, 30), **save):
    """A real image made with Pillow."""
    out = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "RGB"
    fill = (*color, 255) if mode == "RGBA" else color
    Image.new(mode, size, fill).save(out, format=fmt, **save)
    return out.getvalue()


def follow_link(client, link):
    """Open an emailed link as a person does: the GET page, then its button (a POST)."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    assert f'action="{link}"' in page.text, page.text
    return client.post(link)


def nominate_and_confirm(client, **overrides):
    """Submit and confirm one nomination; return the confirmation response."""
    before = len(mails())
    response = client.post(f"/val/{SLUG}/nominera", data=form_data(**overrides))
    assert response.status_code == 200, response.text
    subject, body = mails()[before]
    assert "Bekräfta" in subject, subject
    return follow_link(client, link_in(body))


def open_as_nominee(client, to="karl@example.org"):
    """Open the nominee's newest emailed link in ``client``; return the redirect response."""
    bodies = [b for s, b in mails(to) if "/kandidat/" in b]
    assert bodies, f"no nominee link mailed to {to}"
    return follow_link(client, link_in(bodies[-1], "kandidat"))
