"""An election in its voting window: two kretsar, members, published candidates, contest keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ballots.client import VoterClient
from tests.factories import link_tokens, member_row, publish_with_keys
from voting.db import db
from voting.elections.services import create_election
from voting.lifecycle.roll import send_links

ELECTION = """
slug = "val-2027"
title = "Kongressombudsval 2027"
[schedule]
nomination_opens = "2026-10-01T00:00"
nomination_closes = "2026-11-30T23:59:59"
voting_opens = "2027-01-12T00:00"
voting_closes = "2027-01-25T23:59:59"
[[krets]]
code = "SODERMALM"
name = "Södermalm"
seats = 2
[[krets]]
code = "BROMMA"
name = "Bromma"
seats = 1
min_selections = 1
max_selections = 2
"""

BEFORE = datetime(2026, 12, 15, tzinfo=UTC)
DURING = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
AFTER = datetime(2027, 1, 26, tzinfo=UTC)

MEMBERS = [
    ("S1", "Anna", "Berg", "SODERMALM"),
    ("S2", "Bo", "Åberg", "SODERMALM"),
    ("S3", "Cecilia", "Dahl", "SODERMALM"),
    ("S4", "David", "Ek", "SODERMALM"),
    ("B1", "Eva", "Falk", "BROMMA"),
    ("B2", "Filip", "Gran", "BROMMA"),
]
NOMINEES = ["S1", "S2", "S3", "B1", "B2"]


@dataclass
class VotingSetup:
    slug: str
    contests: dict[str, str]  # krets code -> contest id
    candidates: dict[str, list[str]]  # krets code -> candidate ids
    tokens: dict[str, str]  # member id -> voting link token


@pytest.fixture
def voting(app, clock, rsa_keys, smtp) -> VotingSetup:
    """Set up the election through the services, publish it, send links, open voting."""
    return setup_voting(app, clock, rsa_keys, "http://localhost")


def setup_voting(app, clock, rsa_keys, base_url: str) -> VotingSetup:
    """The election published with keys, the roll frozen, links queued; the clock mid-vote."""
    clock.set(BEFORE)
    with db.transaction() as s:
        election = create_election(s, ELECTION, BEFORE, by="cli")
        s.flush()
        s.add_all(member_row(*m, BEFORE) for m in MEMBERS)
        s.flush()
        candidates = publish_with_keys(s, election, NOMINEES, rsa_keys, BEFORE)
        send_links(s, election, BEFORE, base_url, by="cli")
        contest_ids = {c.krets_code: str(c.id) for c in election.contests}
    tokens = link_tokens(db.session, base_url)
    db.session.rollback()
    clock.set(DURING)
    return VotingSetup("val-2027", contest_ids, candidates, tokens)


def flask_transport(client):
    """A ballots.client transport that calls the app in-process through the test client."""

    def transport(method, url, headers, body):
        path = url.removeprefix("http://localhost")
        response = client.open(path, method=method, headers=dict(headers), data=body)
        return response.status_code, response.get_data()

    return transport


@pytest.fixture
def voter_client(client):
    def make(token: str | None) -> VoterClient:
        return VoterClient("http://localhost", token, transport=flask_transport(client))

    return make


@pytest.fixture
def krets_members() -> dict[str, list[str]]:
    return {"SODERMALM": ["S1", "S2", "S3", "S4"], "BROMMA": ["B1", "B2"]}


def later(moment: datetime, **kw: float) -> datetime:
    return moment + timedelta(**kw)
