"""Real threads against the same database: one signature per member, one row per ballot."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from ballots.ballot import b64url_encode
from ballots.client import VoterClient
from voting.ballot.models import Ballot, SignatureIssued
from voting.db import db
from voting.elections.models import Election
from voting.lifecycle.seal import seal_board

from .conftest import flask_transport

pytestmark = pytest.mark.own_database  # threads, each with a connection of its own

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


def _signed(app, voting, member="S2"):
    voter = VoterClient(
        "http://localhost", voting.tokens[member], transport=flask_transport(app.test_client())
    )
    return voter.sign_ballot(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )


def test_writes_that_passed_the_clock_before_the_close_are_refused_after_the_seal(app, voting):
    import pytest

    from voting.ballot import services
    from voting.ballot.errors import WindowClosed
    from voting.elections.services import get_election

    from .conftest import AFTER, DURING

    signed = _signed(app, voting)
    with db.transaction() as s:
        seal_board(s, get_election(s, voting.slug), AFTER, by="cli")
    contest = voting.contests["SODERMALM"]
    # DURING: as if the request had checked the clock just before the close and only now
    # reached its insert. The seal decides: nothing lands after it.
    with pytest.raises(WindowClosed, match="sealed"), db.transaction() as s:
        services.cast(s, contest, signed.body(), DURING)
    body = {"blinded_msg": b64url_encode(bytes([7]) * 256)}
    election_id = db.session.scalar(select(Election.id).where(Election.slug == voting.slug))
    db.session.rollback()
    with pytest.raises(WindowClosed, match="sealed"), db.transaction() as s:
        services.blind_sign(s, "S3", election_id, contest, body, DURING)
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0
    assert db.session.scalar(select(func.count()).select_from(SignatureIssued)) == 1  # S2's


def test_the_seal_waits_for_a_cast_in_flight_and_includes_it(app, voting):
    import json

    import pytest

    from ballots.board import board_hash
    from voting.ballot import services
    from voting.ballot.models import BoardSeal
    from voting.elections.services import get_election

    from .conftest import AFTER, DURING

    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("on SQLite every write transaction is serialized (BEGIN IMMEDIATE)")
    signed = _signed(app, voting)
    db.session.rollback()
    sessions = app.extensions["db"]["sessionmaker"]
    inserted, sealed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def cast_and_hold() -> None:
        with app.app_context(), sessions() as s:
            try:
                services.cast(s, voting.contests["SODERMALM"], signed.body(), DURING)
                inserted.set()
                sealed.wait(2)  # the seal must NOT get through while this is uncommitted
                s.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                inserted.set()

    def seal() -> None:
        with app.app_context(), sessions() as s:
            try:
                seal_board(s, get_election(s, voting.slug), AFTER, by="cli")
                s.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                sealed.set()

    caster = threading.Thread(target=cast_and_hold)
    caster.start()
    assert inserted.wait(30)
    sealer = threading.Thread(target=seal)
    sealer.start()
    assert not sealed.wait(1), "the seal did not wait for the cast in flight"
    caster.join(30)
    sealer.join(30)
    assert errors == []
    with db.transaction() as s:
        row = s.get(BoardSeal, get_election(s, voting.slug).id)
        entry = next(
            c
            for c in json.loads(row.seal)["contests"]
            if c["contest"] == voting.contests["SODERMALM"]
        )
        board = services.board(s, get_election(s, voting.slug), AFTER)
    assert entry["ballots"] == 1
    soder = next(c for c in board["contests"] if c["id"] == voting.contests["SODERMALM"])
    assert entry["board_hash"] == board_hash(soder["ballots"]) == soder["board_hash"]


def test_the_seal_lock_holds_back_its_own_election_only(app):
    """PostgreSQL: while one election is being sealed, writes of that election wait and writes
    of another election go on (the lock is per election, not a table lock)."""
    from types import SimpleNamespace

    import pytest
    import sqlalchemy as sa
    from sqlalchemy.exc import OperationalError

    from voting.ballot.services import seal_lock

    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("on SQLite every write transaction is serialized (BEGIN IMMEDIATE)")
    sessions = app.extensions["db"]["sessionmaker"]
    sealing, other = SimpleNamespace(id=101), SimpleNamespace(id=102)
    with sessions() as seal, sessions() as write:
        seal_lock(seal, sealing, exclusive=True)
        write.execute(sa.text("SET LOCAL lock_timeout = '500ms'"))
        seal_lock(write, other, exclusive=False)  # another election: at once
        with pytest.raises(OperationalError, match="lock timeout"):
            seal_lock(write, sealing, exclusive=False)  # the election being sealed: waits
        write.rollback()
        seal.rollback()  # the seal ends…
        seal_lock(write, sealing, exclusive=False)  # …and its writes go on
        write.rollback()
