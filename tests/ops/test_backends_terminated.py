"""Fault test: the app's database backends are terminated in the middle of a request.

An operator ran ``pg_terminate_backend`` on every backend of the app's database while voting went
on, and now and then a blind-sign request got Flask's bare 500 page (issue 16): the rate limit's
key function queried the database, and Flask-Limiter took the lost connection for a failure of
its own storage. Here the backends are terminated from an admin connection just before each
statement, commit and rollback that one request makes, in turn, on the voter's requests and the
nomination form. Each such request answers as docs/deployment.md section 7 promises (503,
Retry-After, JSON on the API), the same request right after works, and the rate limits are still
counted in the configured storage (Redis), never in Flask-Limiter's in-memory fallback.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from ballots.ballot import b64url_encode
from ballots.client import VoterClient
from tests.ballot.conftest import flask_transport, setup_voting
from tests.conftest import PG_ADMIN_URL, make_app
from tests.nominations.conftest import DURING as NOMINATING
from tests.nominations.conftest import ELECTION_TOML, add_member, form_data
from tests.ops.conftest import Answer, http_get, http_transport, open_election, wait_until
from voting.ballot.models import VoterLink
from voting.crypto import keyed_hash, token_hash
from voting.db import db, is_outage
from voting.elections.services import create_election
from voting.extensions import limiter
from voting.members.models import Krets

pytestmark = pytest.mark.own_database  # gunicorn, CLI or pg_dump processes read the database

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CSRF_META = re.compile(r'data-csrf-token="([^"]+)"')
FALLBACK_WARNING = "falling back to in-memory storage"  # what Flask-Limiter logs when it switches


def _terminate_backends(dbname: str) -> int:
    """Terminate every backend of ``dbname`` from an admin connection; wait until they are gone."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        pids = [
            pid
            for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )
        ]
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 5
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the terminated backends did not go away"
            time.sleep(0.01)
    return len(pids)


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1) as r:
            r.ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}"
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A rate-limit key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"kvtest-{uuid.uuid4().hex[:8]}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)


def _sign_count(redis_url: str, data_key: str, token: str) -> int:
    """The blind-sign counter of one voting link in Redis, found by the limit's keyed hash."""
    import redis

    link_id = db.session.scalar(
        sa.select(VoterLink.id).where(VoterLink.token_hash == token_hash(token))
    )
    db.remove()
    key = keyed_hash(f"link:{link_id}", "blind-sign-rate-limit", data_key)[:32]
    with redis.Redis.from_url(redis_url) as client:
        return sum(int(client.get(k) or 0) for k in client.scan_iter(match=f"*{key}*"))


def _limiter_uses_its_storage() -> bool:
    """Flask-Limiter counts in the configured storage, not in its in-memory fallback."""
    return limiter.limiter.storage is limiter.storage


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_session_left_broken_by_a_lost_connection_counts_as_an_outage(app, database_url):
    """PendingRollbackError is an outage when the connection was lost, not after a refused
    write that some code swallowed: a 503 there would have clients repeat a bug forever."""
    db.session.execute(sa.text("SELECT 1"))  # the session holds a connection now
    _terminate_backends(urlsplit(database_url).path.lstrip("/"))
    db.session.add(Krets(code="LOST", name="Lost"))
    with pytest.raises(sa.exc.OperationalError) as lost:
        db.session.flush()
    assert is_outage(lost.value)
    with pytest.raises(sa.exc.PendingRollbackError) as broken:  # as after Flask-Limiter's retry
        db.session.execute(sa.text("SELECT 1"))
    assert is_outage(broken.value)
    db.remove()  # what the 503 handler and the teardown do: the next session works
    db.session.add(Krets(code="TWICE", name="Twice"))
    db.session.flush()
    db.session.add(Krets(code="TWICE", name="Twice again"))
    with pytest.raises(sa.exc.IntegrityError) as refused:
        db.session.flush()
    assert not is_outage(refused.value)
    with pytest.raises(sa.exc.PendingRollbackError) as bug:
        db.session.execute(sa.text("SELECT 1"))
    assert not is_outage(bug.value)
    db.remove()


# --- In process: the backends terminated before each statement of one request -----------------


class Terminator:
    """Terminates the database's backends just before the n-th statement, commit or rollback
    that the app's engine makes after :meth:`arm`, as if an operator did at that moment."""

    def __init__(self, engine: sa.Engine, dbname: str) -> None:
        self.dbname = dbname
        self._countdown: int | None = None
        self.fired = False
        for name in ("before_cursor_execute", "commit", "rollback"):
            sa.event.listen(engine, name, self._point)

    def arm(self, point: int) -> None:
        self._countdown, self.fired = point, False

    def disarm(self) -> bool:
        """Whether the request reached the armed point (and so met the terminated backends)."""
        self._countdown = None
        return self.fired

    def _point(self, *_args: Any) -> None:
        if self._countdown is None:
            return
        if self._countdown:
            self._countdown -= 1
            return
        self._countdown = None
        self.fired = _terminate_backends(self.dbname) > 0


@dataclass
class Step:
    """One request as a visitor makes it, and the statuses it answers when all goes well."""

    name: str
    send: Callable[[], Any]
    ok: frozenset[int]
    api: bool
    moment: datetime


def assert_unavailable(answer: Any, api: bool) -> None:
    """The answer docs/deployment.md section 7 promises while the database is away."""
    assert answer.status_code == 503, answer.get_data(as_text=True)[:500]
    assert answer.headers["Retry-After"] == "5"
    if api:
        assert answer.mimetype == "application/json"
        assert answer.get_json()["error"] == "unavailable"
    else:
        assert answer.mimetype == "text/html"
        assert "Tillfälligt otillgänglig" in answer.get_data(as_text=True)


@pytest.fixture
def terminated(database_url, clock, _smtp_server, tmp_path, rsa_keys, redis_url, key_prefix):
    """The app with its rate limits counted in Redis, mid-vote, and a Terminator on its engine."""
    application = make_app(
        database_url,
        clock,
        _smtp_server.port,
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_KEY_PREFIX=key_prefix,
        # Every request below is repeated once per point it reaches: room for all of them.
        RATELIMIT_BLIND_SIGN="1000 per minute",
        RATELIMIT_LINKS="1000 per minute",
        RATELIMIT_PUBLIC_FORM="1000 per minute",
    )
    # The limiter is one object per process; a test before this one may have left it counting
    # in memory (tests/ops/test_health.py makes its Redis unreachable). Start from the storage.
    limiter._storage_dead = False
    with application.app_context():
        setup = setup_voting(application, clock, rsa_keys, "http://localhost")
        with db.transaction() as s:
            create_election(s, ELECTION_TOML, NOMINATING, by="cli")
            add_member(s, "1001", "Anna", "Svensson", "anna@example.org", "SODERMALM")
            add_member(s, "1002", "Karl Johan", "Berg", "karl@example.org", "SODERMALM")
        engine = application.extensions["db"]["engine"]
        yield application, setup, Terminator(engine, urlsplit(database_url).path.lstrip("/"))
    application.extensions["db"]["engine"].dispose()


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_each_request_answers_503_when_its_backends_are_terminated(
    terminated, clock, redis_url, caplog
):
    app, setup, terminator = terminated
    voting_moment = clock()
    caplog.set_level(logging.WARNING, logger="flask-limiter")
    bromma, sodermalm = setup.contests["BROMMA"], setup.contests["SODERMALM"]

    api = app.test_client()
    blinded = b64url_encode(b"\x01" + secrets.token_bytes(2048 // 8 - 1))  # below the modulus

    def sign_by_bearer() -> Any:
        return api.post(
            f"/api/v1/contests/{bromma}/blind-sign",
            json={"blinded_msg": blinded},
            headers={"Authorization": f"Bearer {setup.tokens['B1']}"},
        )

    # A voter with the ballot page open in a browser: cookie session and CSRF header.
    browser = app.test_client()
    assert browser.get(f"/rosta/{setup.tokens['S1']}").status_code == 302
    csrf = CSRF_META.search(browser.get("/rosta").get_data(as_text=True))
    assert csrf is not None
    blinded_by_cookie = b64url_encode(b"\x01" + secrets.token_bytes(2048 // 8 - 1))

    def sign_by_cookie() -> Any:
        return browser.post(
            f"/api/v1/contests/{sodermalm}/blind-sign",
            json={"blinded_msg": blinded_by_cookie},
            headers={"X-CSRFToken": csrf[1]},
        )

    # A voter with a signed ballot in hand, casting it (again and again: the same receipt).
    voter = VoterClient("http://localhost", setup.tokens["S2"], transport=flask_transport(api))
    signed = voter.sign_ballot(setup.slug, sodermalm, setup.candidates["SODERMALM"][:2])
    anonymous = app.test_client()

    def cast() -> Any:
        return anonymous.post(f"/api/v1/contests/{signed.contest_id}/ballots", json=signed.body())

    link_opener = app.test_client()
    nominator = app.test_client()
    steps = [
        Step("blind-sign (bearer)", sign_by_bearer, frozenset({200}), True, voting_moment),
        Step("blind-sign (cookie)", sign_by_cookie, frozenset({200}), True, voting_moment),
        Step("cast", cast, frozenset({200, 201}), True, voting_moment),
        Step(
            "open the voting link",
            lambda: link_opener.get(f"/rosta/{setup.tokens['S3']}"),
            frozenset({302}),
            False,
            voting_moment,
        ),
        Step("ballot page", lambda: browser.get("/rosta"), frozenset({200}), False, voting_moment),
        Step(
            "nomination form",
            lambda: nominator.get("/val/kongress-2027/nominera"),
            frozenset({200}),
            False,
            NOMINATING,
        ),
        Step(
            "nomination sent",
            lambda: nominator.post("/val/kongress-2027/nominera", data=form_data()),
            frozenset({200}),
            False,
            NOMINATING,
        ),
    ]
    refused: dict[str, int] = {}
    for step in steps:
        clock.set(step.moment)
        refused[step.name] = 0
        for point in range(100):
            terminator.arm(point)
            answer = step.send()
            if not terminator.disarm():
                assert answer.status_code in step.ok, (step.name, point, answer.status_code)
                break
            if answer.status_code == 503:
                assert_unavailable(answer, step.api)
                refused[step.name] += 1
            else:  # the backends went after the answer was made: at the teardown's rollback
                assert answer.status_code in step.ok, (step.name, point, answer.status_code)
            # The very next request on this process works: nothing broken was kept.
            again = step.send()
            assert again.status_code in step.ok, (step.name, point, again.status_code)
            assert _limiter_uses_its_storage(), (step.name, point)
        else:
            raise AssertionError(f"{step.name}: still running statements after 100 points")
    # Every step met the terminated backends at least once before its answer was made.
    assert all(refused.values()), refused
    assert _limiter_uses_its_storage()
    assert FALLBACK_WARNING not in caplog.text
    # And the limit is counted in Redis: three more signatures are three more in the counter
    # (or three in all, should the limit's minute have ended in between).
    clock.set(voting_moment)
    before = _sign_count(redis_url, app.config["DATA_KEY"], setup.tokens["B1"])
    assert before > 0
    assert [sign_by_bearer().status_code for _ in range(3)] == [200] * 3
    after = _sign_count(redis_url, app.config["DATA_KEY"], setup.tokens["B1"])
    assert after in (before + 3, 3)


# --- Through gunicorn: the backends terminated again and again while members vote ------------


class Seen:
    """Every answer the voters got while the backends were being terminated."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.lock = threading.Lock()
        self.answers: list[tuple[str, Answer]] = []

    def request(self, method: str, url: str, headers: Any, body: bytes | None) -> Answer:
        """One request, repeated unchanged after a 503 as the voter's page does; each answer
        is kept."""
        parts = urlsplit(url)
        while True:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                conn.request(method, parts.path, body=body, headers=dict(headers))
                response = conn.getresponse()
                answer = Answer(response.status, dict(response.getheaders()), response.read())
            finally:
                conn.close()
            with self.lock:
                self.answers.append((parts.path, answer))
            if answer.status != 503:
                return answer
            assert time.monotonic() < self.deadline, f"{method} {url}: still 503 at the deadline"
            time.sleep(0.1)

    def transport(self, method: str, url: str, headers: Any, body: bytes | None) -> Any:
        """The same, as a ballots.client transport."""
        answer = self.request(method, url, headers, body)
        return answer.status, answer.body


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_voting_goes_on_while_the_backends_are_terminated_again_and_again(
    app, clock, database_url, gunicorn, tmp_path, redis_url, key_prefix
):
    election = open_election(app, clock, per_krets=10)
    data_key = app.config["DATA_KEY"]
    server = gunicorn(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "DATA_KEY": data_key,
            "RATELIMIT_STORAGE_URI": redis_url,
            "RATELIMIT_KEY_PREFIX": key_prefix,
            # Room for the voters' repeated requests: the limit is on, and counted in Redis.
            "RATELIMIT_BLIND_SIGN": "100 per minute",
        },
        workers=2,
    )
    dbname = urlsplit(database_url).path.lstrip("/")
    *voters, reserved = election.voters
    seen = Seen(time.monotonic() + 150)
    stop = threading.Event()
    terminations: list[int] = []

    def terminate_again_and_again() -> None:
        while not stop.is_set():
            terminations.append(_terminate_backends(dbname))
            stop.wait(0.02 + secrets.randbelow(100) / 1000)

    def vote(voter: Any) -> str:
        # The voter opens the emailed link and reads the ballot page, then votes.
        opened = seen.request("GET", f"{server.url}/rosta/{voter.token}", {}, None)
        assert opened.status == 302
        cookie = opened.headers["Set-Cookie"].split(";", 1)[0]
        assert seen.request("GET", f"{server.url}/rosta", {"Cookie": cookie}, None).status == 200
        client = VoterClient(server.url, voter.token, transport=seen.transport)
        return client.vote(election.slug, voter.contest, voter.choices)["ballot_hash"]

    storm = threading.Thread(target=terminate_again_and_again, daemon=True)
    storm.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            receipts = list(pool.map(vote, voters))
    finally:
        stop.set()
        storm.join(10)
    assert sum(terminations) > 0
    wait_until(lambda: http_get(server.url, "/healthz").status == 200, 30, "/healthz 200")

    assert 500 not in [answer.status for _, answer in seen.answers]
    unavailable = [(path, answer) for path, answer in seen.answers if answer.status == 503]
    assert unavailable, "no request met the terminated backends"
    for path, answer in unavailable:
        assert answer.headers["Retry-After"] == "5", path
        if path.startswith("/api/"):
            assert answer.headers["Content-Type"] == "application/json", path
            assert answer.json()["error"] == "unavailable", path
        else:
            assert answer.headers["Content-Type"].startswith("text/html"), path
    board = http_get(server.url, f"/api/v1/elections/{election.slug}/board").json()
    assert sorted(h for c in board["contests"] for h in c["ballot_hashes"]) == sorted(receipts)

    # Every worker still counts the blind-sign limit in Redis: one link's requests, spread over
    # the workers, are all in its counter there.
    blinded = b64url_encode(b"\x01" + secrets.token_bytes(2048 // 8 - 1))
    for _ in range(12):
        status, _ = http_transport(
            "POST",
            f"{server.url}/api/v1/contests/{reserved.contest}/blind-sign",
            {"Authorization": f"Bearer {reserved.token}", "Content-Type": "application/json"},
            json.dumps({"blinded_msg": blinded}).encode(),
        )
        assert status == 200
    assert _sign_count(redis_url, data_key, reserved.token) == 12

    log = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
    assert "database unavailable" in log
    assert FALLBACK_WARNING not in log
    assert "Traceback" not in log
