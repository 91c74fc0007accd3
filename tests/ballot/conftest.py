"""An election in its voting window: two kretsar, members, published candidates, contest keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ballots.client import VoterClient
from voting.ballot.keys import store_contest_key
from voting.db import db
from voting.elections.services import create_election
from voting.lifecycle.roll import send_links
from voting.members.models import Member
from voting.nominations.models import Nomination, NominationStatus
from voting.nominations.review import candidate_list, list_hash

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


@dataclass
class VotingSetup:
    slug: str
    contests: dict[str, str]  # krets code -> contest id
    candidates: dict[str, list[str]]  # krets code -> candidate ids
    tokens: dict[str, str]  # member id -> voting link token


def _member(member_id: str, first: str, last: str, krets: str) -> Member:
    return Member(
        member_id=member_id,
        first_name=first,
        last_name=last,
        email=f"{member_id}@example.org",
        krets_code=krets,
        updated_at=BEFORE,
    )


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
        members = [
            _member("S1", "Anna", "Berg", "SODERMALM"),
            _member("S2", "Bo", "Åberg", "SODERMALM"),
            _member("S3", "Cecilia", "Dahl", "SODERMALM"),
            _member("S4", "David", "Ek", "SODERMALM"),
            _member("B1", "Eva", "Falk", "BROMMA"),
            _member("B2", "Filip", "Gran", "BROMMA"),
        ]
        s.add_all(members)
        s.flush()
        contests = {c.krets_code: c for c in election.contests}
        candidates: dict[str, list[str]] = {}
        for member_id in ("S1", "S2", "S3", "B1", "B2"):
            krets = member_id[0] == "S" and "SODERMALM" or "BROMMA"
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
        send_links(s, election, BEFORE, base_url, by="cli")
        contest_ids = {code: str(c.id) for code, c in contests.items()}
    tokens = {}
    from voting.mail.models import OutboxMessage
    from voting.mail.services import message_body

    for message in db.session.scalars(
        __import__("sqlalchemy").select(OutboxMessage).where(OutboxMessage.kind == "voter_link")
    ):
        body = message_body(message)
        assert body is not None
        token = body.split(f"{base_url}/rosta/", 1)[1].split()[0]
        tokens[message.to_addr.split("@")[0]] = token
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
