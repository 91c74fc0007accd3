"""Real threads against the same database: one signature per member, one row per ballot."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from ballots.ballot import b64url_encode
from ballots.client import VoterClient
from voting.ballot.models import Ballot, SignatureIssued
from voting.db import db

from .conftest import flask_transport

THREADS = 6


def _race(target, n=THREADS):
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = target(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_blind_sign_for_one_member_gives_one_signature(app, voting):
    url = f"/api/v1/contests/{voting.contests['SODERMALM']}/blind-sign"
    headers = {"Authorization": f"Bearer {voting.tokens['S1']}"}

    def sign(i: int) -> int:
        with app.test_client() as c:
            body = {"blinded_msg": b64url_encode(bytes([i + 1]) * 256)}
            return c.post(url, json=body, headers=headers).status_code

    statuses = _race(sign)
    assert sorted(statuses) == [200] + [409] * (THREADS - 1)
    assert db.session.scalar(select(func.count()).select_from(SignatureIssued)) == 1


def test_concurrent_casts_of_one_ballot_store_it_once(app, voting):
    voter = VoterClient(
        "http://localhost", voting.tokens["S2"], transport=flask_transport(app.test_client())
    )
    signed = voter.sign_ballot(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )
    url = f"/api/v1/contests/{voting.contests['SODERMALM']}/ballots"

    def cast(i: int):
        with app.test_client() as c:
            response = c.post(url, json=signed.body())
            return response.status_code, response.get_json()["receipt"]

    results = _race(cast)
    assert sorted(status for status, _ in results) == [200] * (THREADS - 1) + [201]
    assert len({r["ballot_hash"] for _, r in results}) == 1
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 1
