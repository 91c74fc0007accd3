"""Two app servers (as on two hosts) on one PostgreSQL and one Redis hold no state of their own."""

from __future__ import annotations

import uuid

import pytest

from ballots.client import VoterClient
from tests.ops.conftest import http_get, http_transport, open_election

pytestmark = pytest.mark.own_database  # gunicorn, CLI or pg_dump processes read the database

REDIS = "redis://127.0.0.1:6379/3"


def _redis_keys(prefix: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        return list(client.scan_iter(match=f"*{prefix}*"))
    finally:
        client.close()


@pytest.fixture
def key_prefix():
    """A rate-limit key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"kvtest-{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(REDIS)
    try:
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)
    finally:
        client.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_servers_share_sessions_limits_and_votes(
    app, clock, database_url, gunicorn, key_prefix
):
    election = open_election(app, clock, per_krets=3)
    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DATA_KEY": app.config["DATA_KEY"],
        "RATELIMIT_STORAGE_URI": REDIS,
        "RATELIMIT_KEY_PREFIX": key_prefix,
        "RATELIMIT_LINKS": "4 per minute",
    }
    first, second = gunicorn(settings, workers=1), gunicorn(settings, workers=1)
    assert http_get(first.url, "/readyz").json()["checks"]["rate_limit_storage"] == "ok"

    # A session begun on one server is good on the other: it lives in the signed cookie.
    opened = http_get(first.url, f"/rosta/{election.voters[0].token}")
    assert opened.status == 302, opened.body
    cookie = opened.headers["Set-Cookie"].split(";", 1)[0]
    page = http_get(second.url, "/rosta", {"Cookie": cookie})
    assert page.status == 200
    assert http_get(second.url, "/rosta").status != 200  # and without it, no ballot

    # A vote cast through one server is on the other's board: the state is in PostgreSQL.
    voter = election.voters[1]
    client = VoterClient(first.url, voter.token, transport=http_transport)
    receipt = client.vote(election.slug, voter.contest, voter.choices)
    board = http_get(second.url, f"/api/v1/elections/{election.slug}/board").json()
    hashes = {h for c in board["contests"] for h in c["ballot_hashes"]}
    assert receipt["ballot_hash"] in hashes

    # The link rate limit (4 a minute per address) is counted in Redis, across both servers:
    # one request above, then three more split between them, and the next is refused on either.
    statuses = [http_get(s.url, "/rosta/no-such-token").status for s in (second, first, second)]
    assert statuses == [403, 403, 403]
    assert http_get(first.url, "/rosta/no-such-token").status == 429
    assert http_get(second.url, "/rosta/no-such-token").status == 429
    assert _redis_keys(key_prefix)
