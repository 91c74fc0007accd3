"""An election run by the scheduler from nominations to the seal still verifies end to end."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from auditlog import verify as verifier
from ballots.client import VoterClient
from tests.ballot.conftest import flask_transport
from tests.factories import make_election, make_member, make_nomination
from voting.db import db
from voting.elections.services import get_election
from voting.lifecycle.candidates import publish_candidates
from voting.lifecycle.tally import tally
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.nominations.models import NominationStatus
from voting.scheduler.jobs import Status
from voting.scheduler.services import checkpoint_open_windows, run_due

SLUG = "val-schema"
BASE = "http://localhost"


def _tokens(kind_subject: str) -> dict[str, str]:
    """The newest voting-link token per address among mails whose subject has the text."""
    tokens = {}
    for message in db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.kind == "voter_link")
        .order_by(OutboxMessage.id)
    ):
        body = message_body(message)
        if body is not None and kind_subject in message.subject:
            tokens[message.to_addr] = body.split(f"{BASE}/rosta/", 1)[1].split()[0]
    db.session.rollback()
    return tokens


@pytest.mark.slow
def test_scheduled_election_verifies(app, clock, runner, tmp_path):
    now = clock()
    with db.transaction() as s:
        election = make_election(s, now, slug=SLUG, kretsar=(("NORR", "Norr", 1),))
        members = [make_member(s, "NORR", "Förnamn", f"Efternamn{i}", now) for i in range(4)]
        for member in members[:2]:
            make_nomination(s, election, member, now, status=NominationStatus.APPROVED)
        emails = [m.email for m in members]
        closes_n, opens, closes = (
            election.nomination_closes,
            election.voting_opens,
            election.voting_closes,
        )

    def tick(moment):
        clock.set(moment)
        outcomes = run_due(app.config, clock)
        assert all(o.status in (Status.DONE, Status.SKIPPED) for o in outcomes), outcomes
        return [o.job for o in outcomes]

    assert tick(now + timedelta(hours=1)) == []
    assert checkpoint_open_windows(clock) == [SLUG]
    assert tick(closes_n + timedelta(seconds=2)) == ["nomination_closes"]
    with db.transaction() as s:
        election = get_election(s, SLUG)
        published = publish_candidates(s, election, clock(), key_bits=2048)
        candidates = published[0]["candidates"]
        contest = str(election.contests[0].id)
    assert tick(opens) == ["voting_opens"]
    tokens = _tokens("Din röstlänk")
    client = app.test_client()
    clock.set(opens + timedelta(hours=1))
    for address in emails[:2]:
        VoterClient(BASE, tokens[address], transport=flask_transport(client)).vote(
            SLUG, contest, [candidates[0]]
        )
    assert tick(closes - timedelta(hours=72)) == ["reminder-72h"]
    reminded = _tokens("Påminnelse")
    assert sorted(reminded) == sorted(emails[2:])  # only those who have not voted
    VoterClient(BASE, reminded[emails[2]], transport=flask_transport(client)).vote(
        SLUG, contest, [candidates[1]]
    )
    # Votes write no log entry, and the reminder job checkpointed its own: nothing to sign.
    assert checkpoint_open_windows(clock) == []
    assert tick(closes - timedelta(hours=24)) == ["reminder-24h"]
    assert tick(closes + timedelta(seconds=30)) == []  # inside the grace: not sealed yet
    assert tick(closes + timedelta(seconds=62)) == ["voting_closes"]

    with db.transaction() as s:
        tally(s, get_election(s, SLUG), "seed", clock(), by="cli")
    outcome = runner.invoke(args=["election", "export", SLUG, "-o", str(tmp_path / "r.json")])
    assert outcome.exit_code == 0, outcome.output
    record = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    checks = verifier.verify_record(record, expected_fingerprint=record["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    types = [json.loads(e)["type"] for e in record["log"]["entries"]]
    assert types.count("scheduler.job_ran") == 5
    reasons = [c["reason"] for c in record["log"]["checkpoints"]]
    assert "scheduler.hourly" in reasons
    assert "board.sealed" in reasons
