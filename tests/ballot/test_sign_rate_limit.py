"""The blind-sign endpoint is rate-limited per voter link (never per address); casting is not."""

from __future__ import annotations

import re
import secrets

import pytest

from ballots.ballot import b64url_encode
from ballots.client import VoterClient
from tests.ballot.conftest import flask_transport, setup_voting
from tests.conftest import make_app
from voting.extensions import limiter


@pytest.fixture
def limited(database_url, clock, _smtp_server, tmp_path, rsa_keys):
    """An app with the limiter on and the default blind-sign limit, mid-vote."""
    application = make_app(database_url, clock, _smtp_server.port, tmp_path, RATELIMIT_ENABLED=True)
    with application.app_context():
        setup = setup_voting(application, clock, rsa_keys, "http://localhost")
        yield application, setup
    application.extensions["db"]["engine"].dispose()


def _sign(client, setup, member: str, blinded: str, **headers: str):
    krets = "BROMMA" if member.startswith("B") else "SODERMALM"
    return client.post(
        f"/api/v1/contests/{setup.contests[krets]}/blind-sign",
        json={"blinded_msg": blinded},
        headers={"Authorization": f"Bearer {setup.tokens[member]}", **headers},
    )


def _blinded() -> str:
    """A well-formed blinded message for the test key (any number below the modulus)."""
    size = 2048 // 8
    return b64url_encode(b"\x01" + secrets.token_bytes(size - 1))


def test_the_eleventh_sign_request_from_one_link_is_refused_and_another_link_is_not(limited):
    app, setup = limited
    assert app.config["RATELIMIT_BLIND_SIGN"] == "10 per minute"  # the shipped default
    client = app.test_client()
    blinded = _blinded()
    # The same request ten times (a client retrying a lost answer): each is signed again.
    answers = [_sign(client, setup, "B1", blinded) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert len({a.get_json()["blind_sig"] for a in answers}) == 1
    refused = _sign(client, setup, "B1", blinded)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    assert refused.get_json()["message"]
    assert refused.headers["Retry-After"]
    # Another link, from the same client and the same address, has its own budget.
    other = _sign(client, setup, "B2", _blinded())
    assert other.status_code == 200, other.get_data(as_text=True)
    # The cookie session of the exhausted link shares its budget: it is the link that counts.
    browser = app.test_client()
    browser.get(f"/rosta/{setup.tokens['B1']}")
    csrf = re.search(r'data-csrf-token="([^"]+)"', browser.get("/rosta").get_data(as_text=True))
    assert csrf is not None
    contest = setup.contests["BROMMA"]
    by_cookie = browser.post(
        f"/api/v1/contests/{contest}/blind-sign",
        json={"blinded_msg": blinded},
        headers={"X-CSRFToken": csrf[1]},
    )
    assert by_cookie.status_code == 429


def test_the_limit_is_not_keyed_by_the_address_nor_the_token(limited):
    app, setup = limited
    client = app.test_client()
    for member in ("B1", "B2"):
        assert _sign(client, setup, member, _blinded()).status_code == 200
    keys = " ".join(limiter.storage.storage)  # memory:// keeps its counters in a dict
    assert "blind-sign" in keys
    assert "127.0.0.1" not in keys  # the test client's address
    for token in setup.tokens.values():
        assert token not in keys
    assert "link:" not in keys  # a keyed hash, not the link id in clear


def test_a_request_naming_no_live_link_is_refused_before_the_limit(limited):
    """The key is the authenticated link, so the limit's key function needs no database; a
    request with no live link is refused first, never signed, and counts against nobody."""
    app, setup = limited
    client = app.test_client()
    contest = setup.contests["BROMMA"]
    for _ in range(12):
        answer = client.post(
            f"/api/v1/contests/{contest}/blind-sign",
            json={"blinded_msg": _blinded()},
            headers={"Authorization": "Bearer no-such-token"},
        )
        assert answer.status_code == 401
    assert not [key for key in limiter.storage.storage if "blind-sign" in key]
    assert _sign(client, setup, "B1", _blinded()).status_code == 200


def test_a_configured_limit_applies(database_url, clock, _smtp_server, tmp_path, rsa_keys):  # noqa: PT019
    app = make_app(
        database_url,
        clock,
        _smtp_server.port,
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_BLIND_SIGN="2 per minute",
    )
    try:
        with app.app_context():
            setup = setup_voting(app, clock, rsa_keys, "http://localhost")
            client = app.test_client()
            blinded = _blinded()
            codes = [_sign(client, setup, "S1", blinded).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
    finally:
        app.extensions["db"]["engine"].dispose()


def test_a_vote_with_retries_stays_under_the_limit_and_casting_is_not_limited(limited):
    """The reference client repeats a lost answer; a vote with three lost answers still
    passes, and casts are never counted (the cast endpoint is anonymous and exempt)."""
    app, setup = limited
    client = app.test_client()
    inner = flask_transport(client)
    lost = {"blind-sign": 3, "ballots": 0}
    sign_requests = []

    def lossy(method, url, headers, body):
        status, raw = inner(method, url, headers, body)
        for kind in lost:
            if url.endswith(kind) and lost[kind]:
                lost[kind] -= 1
                status, raw = 503, b""  # the answer is lost after the server acted
        if url.endswith("blind-sign"):
            sign_requests.append(status)
        return status, raw

    voter = VoterClient(
        "http://localhost",
        setup.tokens["S2"],
        transport=lossy,
        retries=3,
        sleep=lambda _seconds: None,
    )
    me = voter.voter()
    receipt = voter.vote(me["election"], me["contest"], setup.candidates["SODERMALM"][:2])
    assert receipt
    assert len(sign_requests) == 4  # three lost, one answered: well under 10 a minute
    # Casts are never counted: fifteen in a row get their own answers, no 429.
    statuses = [
        client.post(
            f"/api/v1/contests/{setup.contests['SODERMALM']}/ballots", json={"x": i}
        ).status_code
        for i in range(15)
    ]
    assert 429 not in statuses
