"""Fault test: the database goes away during voting and comes back.

The machine's PostgreSQL is shared with other tests, so it is not restarted. Instead gunicorn
reaches it through a TCP proxy that the test cuts (every connection dropped, new ones refused,
as a stopped server looks to a client) and then restores on the same port.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from auditlog import verify as verifier
from ballots.client import ApiError, VoterClient
from tests.ops.conftest import TcpProxy, http_get, http_transport, open_election, wait_until
from voting.ballot.models import Ballot, SignatureIssued
from voting.db import db
from voting.elections.services import get_election
from voting.lifecycle.seal import seal_board
from voting.lifecycle.tally import tally

pytestmark = pytest.mark.own_database  # gunicorn, CLI or pg_dump processes read the database


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def all_answer(url: str, path: str, status: int, times: int = 8) -> bool:
    """``times`` requests in a row (spread over the workers) all answer ``status``."""
    return all(http_get(url, path).status == status for _ in range(times))


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_app_answers_503_while_the_database_is_away_and_recovers(
    app, clock, database_url, gunicorn, tmp_path
):
    election = open_election(app, clock, per_krets=8)
    parts = urlsplit(database_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxy.start()
    server = gunicorn(
        {
            "DATABASE_URL": through(database_url, proxy.port),
            "SECRET_KEY": app.config["SECRET_KEY"],
            "DATA_KEY": app.config["DATA_KEY"],
            "RATELIMIT_ENABLED": "false",
        },
        workers=2,
    )
    receipts: dict[str, dict[str, str]] = {}
    lock = threading.Lock()

    def vote(voter) -> None:
        client = VoterClient(server.url, voter.token, transport=http_transport)
        receipt = client.vote(election.slug, voter.contest, voter.choices)
        with lock:
            receipts[voter.token] = receipt

    voters = list(election.voters)
    before, during, after = voters[:5], voters[5:8], voters[8:]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(vote, before))
    assert len(receipts) == 5
    # One voter has the signed ballot in hand when the database goes; the cast comes later.
    pending_voter = during[0]
    pending_client = VoterClient(server.url, pending_voter.token, transport=http_transport)
    pending = pending_client.sign_ballot(
        election.slug, pending_voter.contest, pending_voter.choices
    )

    started = time.monotonic()
    proxy.cut()
    wait_until(lambda: proxy.open_connections() == 0, 5, "the proxy to drop its connections")
    # Every worker notices at its next request: health, pages and the API all say 503.
    wait_until(lambda: all_answer(server.url, "/healthz", 503), 20, "/healthz to answer 503")
    page = http_get(server.url, "/")
    assert page.status == 503
    assert page.headers["Retry-After"] == "5"
    ready = http_get(server.url, "/readyz")
    assert ready.status == 503
    assert ready.json()["checks"]["database"] == "fail"
    with pytest.raises(ApiError) as refused:
        pending_client.cast(pending, election=election.slug)
    assert refused.value.status == 503
    for voter in during[1:]:
        with pytest.raises(ApiError) as refused:
            VoterClient(server.url, voter.token, transport=http_transport).vote(
                election.slug, voter.contest, voter.choices
            )
        assert refused.value.status == 503
    assert time.monotonic() - started < 30  # no request hung while the database was away

    proxy.start()  # the database is back, on the same address
    wait_until(lambda: all_answer(server.url, "/healthz", 200), 30, "/healthz to answer 200")
    # Voting goes on by itself: the saved signed ballot is cast, the refused voters retry.
    receipts[pending_voter.token] = pending_client.cast(pending, election=election.slug)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(vote, during[1:] + after))
    assert len(receipts) == len(voters)
    assert server.process.poll() is None  # no worker restart was needed either

    # Nothing lost: every receipt is on the board, and the board holds nothing else.
    board = http_get(server.url, f"/api/v1/elections/{election.slug}/board").json()
    on_board = sorted(h for c in board["contests"] for h in c["ballot_hashes"])
    assert on_board == sorted(r["ballot_hash"] for r in receipts.values())
    # One signature per voter, one ballot per signature.
    issued = db.session.scalar(sa.select(sa.func.count()).select_from(SignatureIssued))
    cast = db.session.scalar(sa.select(sa.func.count()).select_from(Ballot))
    assert issued == cast == len(voters)
    db.session.rollback()

    # And the log verifies: close, seal, count, export, verify the whole record.
    closed = election.voting_closes + timedelta(hours=1)
    clock.set(closed)
    with db.transaction() as s:
        counted = get_election(s, election.slug)
        seal_board(s, counted, closed, by="cli")
        tally(s, counted, "efter omstarten", closed, by="cli")
    outcome = app.test_cli_runner().invoke(
        args=["election", "export", election.slug, "-o", str(tmp_path / "record.json")]
    )
    assert outcome.exit_code == 0, outcome.output
    record = json.loads((tmp_path / "record.json").read_text(encoding="utf-8"))
    checks = verifier.verify_record(record, expected_fingerprint=record["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    proxy.cut()
    # The outage was handled, not crashed through: no traceback in the server's log.
    log = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
    assert "database unavailable: OperationalError" in log
    assert "Traceback" not in log


def retrying(transport, deadline: float, seen: list[int]):
    """A transport that repeats the very same request while the app answers 503 or the
    connection fails, as a voter's browser does; the same blinded message, the same ballot."""

    def call(method, url, headers, body):
        while True:
            try:
                status, raw = transport(method, url, headers, body)
            except (OSError, http.client.HTTPException):
                status, raw = 0, b""
            if status not in (0, 503):
                return status, raw
            seen.append(status)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {url}: still {status} at the deadline")
            time.sleep(0.2)

    return call


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_database_cut_under_load_loses_nothing(app, clock, database_url, gunicorn, tmp_path):
    """Voters keep voting while the database drops at an arbitrary moment and comes back."""
    election = open_election(app, clock, per_krets=20)
    parts = urlsplit(database_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxy.start()
    server = gunicorn(
        {
            "DATABASE_URL": through(database_url, proxy.port),
            "SECRET_KEY": app.config["SECRET_KEY"],
            "DATA_KEY": app.config["DATA_KEY"],
            "RATELIMIT_ENABLED": "false",
        },
        workers=2,
    )
    deadline = time.monotonic() + 120
    refused: list[int] = []
    receipts: dict[str, str] = {}
    lock = threading.Lock()

    def vote(voter) -> None:
        transport = retrying(http_transport, deadline, refused)
        client = VoterClient(server.url, voter.token, transport=transport)
        receipt = client.vote(election.slug, voter.contest, voter.choices)
        with lock:
            receipts[voter.token] = receipt["ballot_hash"]

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(vote, voter) for voter in election.voters]
        wait_until(lambda: len(receipts) >= 5, 60, "the first votes")
        proxy.cut()
        wait_until(lambda: len(refused) >= 6, 30, "voters to meet the outage")
        time.sleep(1)
        proxy.start()
        for future in futures:
            future.result(timeout=max(1, deadline - time.monotonic()))
    assert refused, "the outage was never noticed"
    assert len(receipts) == len(election.voters)

    board = http_get(server.url, f"/api/v1/elections/{election.slug}/board").json()
    on_board = sorted(h for c in board["contests"] for h in c["ballot_hashes"])
    assert on_board == sorted(receipts.values())
    issued = db.session.scalar(sa.select(sa.func.count()).select_from(SignatureIssued))
    cast = db.session.scalar(sa.select(sa.func.count()).select_from(Ballot))
    assert issued == cast == len(election.voters)
    db.session.rollback()

    closed = election.voting_closes + timedelta(hours=1)
    clock.set(closed)
    with db.transaction() as s:
        counted = get_election(s, election.slug)
        seal_board(s, counted, closed, by="cli")
        tally(s, counted, "under last", closed, by="cli")
    outcome = app.test_cli_runner().invoke(
        args=["election", "export", election.slug, "-o", str(tmp_path / "record.json")]
    )
    assert outcome.exit_code == 0, outcome.output
    record = json.loads((tmp_path / "record.json").read_text(encoding="utf-8"))
    checks = verifier.verify_record(record, expected_fingerprint=record["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    proxy.cut()
    log = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
    assert "Traceback" not in log
