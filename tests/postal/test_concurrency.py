"""An envelope's confirmation racing the member's online signature: the database lets exactly
one of them be the member's vote, and the other follows from it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from ballots.ballot import b64url_encode
from voting.ballot.models import SignatureIssued
from voting.db import db
from voting.elections.services import get_election
from voting.postal import services
from voting.postal.models import COUNTED, SET_ASIDE, PostalEnvelope

pytestmark = pytest.mark.own_database  # threads, each with a connection of its own


def test_confirmation_and_online_signature_race_to_one_vote(app, postal, clock):
    (a, _), (b, _) = postal.staff[:2]
    voting = postal.voting
    members = ["S3", "S4", "B2"]
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        for member_id in members:
            services.register_envelope(s, election, member_id, clock(), by=a)
    db.session.rollback()
    for member_id in members:
        krets = "BROMMA" if member_id.startswith("B") else "SODERMALM"
        url = f"/api/v1/contests/{voting.contests[krets]}/blind-sign"
        headers = {"Authorization": f"Bearer {voting.tokens[member_id]}"}
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def sign(url=url, headers=headers, barrier=barrier, outcome=outcome) -> None:
            with app.test_client() as c:
                barrier.wait()
                body = {"blinded_msg": b64url_encode(b"\x05" * 256)}
                outcome["sign"] = c.post(url, json=body, headers=headers).status_code

        def confirm(member_id=member_id, barrier=barrier, outcome=outcome) -> None:
            with app.app_context():
                barrier.wait()
                with db.transaction() as s:
                    envelope = services.confirm_envelope(
                        s, get_election(s, postal.slug), member_id, clock(), by=b
                    )
                    outcome["envelope"] = envelope.status

        threads = [threading.Thread(target=sign), threading.Thread(target=confirm)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        rows = db.session.scalars(select(SignatureIssued.blinded_hash)).all()
        db.session.rollback()
        # One row per member so far; whichever came first decided the other.
        assert len(rows) == members.index(member_id) + 1
        if outcome["envelope"] == COUNTED:
            assert outcome["sign"] == 409
        else:
            assert outcome["envelope"] == SET_ASIDE
            assert outcome["sign"] == 200
    statuses = db.session.scalars(select(PostalEnvelope.status)).all()
    assert set(statuses) <= {COUNTED, SET_ASIDE}
