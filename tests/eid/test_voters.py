"""Voters sign in with eID against the real test provider (oidc-provider), through the app.

The test client plays the browser on our side; ``provider_login`` walks the provider's own
pages over HTTP. Chromium does the same in test_browser.py.
"""

from __future__ import annotations

import re

import pytest
from flask import g
from sqlalchemy import select

from ballots.client import ClientError, VoterClient
from tests.ballot.conftest import AFTER, flask_transport
from tests.eid.conftest import (
    OFF_ROLL_PNR,
    PNR,
    STRANGER,
    eid_election,
    provider_login,
    sign_in,
    voter_session,
)
from voting.ballot.voter import EID_KEY, VOTER_KEY
from voting.db import db
from voting.elections.models import Contest


def _start(slug: str) -> str:
    return f"/val/{slug}/rosta/e-legitimation"


def _refusal(response) -> str | None:
    match = re.search(r'id="eid-refusal" data-code="([a-z_]+)"', response.get_data(as_text=True))
    return match[1] if match else None


def _session_client(client):
    """A ballots.client transport that votes with the browser session and its CSRF token."""
    # The fixture's app context outlives requests, and Flask-WTF caches the token in g: drop it,
    # as a new request would, since the sign-in started a fresh session without one.
    g.pop("csrf_token", None)
    page = client.get("/rosta").get_data(as_text=True)
    csrf = re.search(r'data-csrf-token="([^"]+)"', page)
    assert csrf is not None, page[:500]
    inner = flask_transport(client)

    def transport(method, url, headers, body):
        headers = {k: v for k, v in dict(headers).items() if k != "Authorization"}
        headers["X-CSRFToken"] = csrf[1]
        return inner(method, url, headers, body)

    # The token is never sent (the transport drops it): the session is the credential.
    return VoterClient("http://localhost", "unused", transport=transport)


def test_eid_mode_the_member_signs_in_and_votes_without_a_link(eid_app, clock, rsa_keys, smtp):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "eid")
    client = eid_app.test_client()
    page = client.get(f"/val/{setup.slug}/rosta").get_data(as_text=True)
    assert 'data-mode="eid"' in page
    assert 'id="eid-sign-in"' in page

    done = sign_in(client, _start(setup.slug), PNR["S1"])
    assert done.status_code == 302, done.get_data(as_text=True)[:800]
    assert done.headers["Location"].endswith("/rosta")
    cookie = voter_session(client)
    assert VOTER_KEY not in cookie  # no link was used
    assert cookie[EID_KEY]["member"] == "S1"

    voter = _session_client(client)
    assert voter.voter()["contest"] == setup.contests["SODERMALM"]
    signed = voter.sign_ballot(
        setup.slug, setup.contests["SODERMALM"], setup.candidates["SODERMALM"][:2]
    )
    receipt = voter.cast(signed, election=setup.slug)
    board = client.get(f"/api/v1/elections/{setup.slug}/board").get_json()
    soder = next(c for c in board["contests"] if c["krets"] == "SODERMALM")
    assert soder["ballot_hashes"] == [receipt["ballot_hash"]]
    # One signature per member, whichever credential: another ballot is refused.
    with pytest.raises(ClientError, match="already_signed"):
        voter.sign_ballot(
            setup.slug, setup.contests["SODERMALM"], setup.candidates["SODERMALM"][1:]
        )


def test_eid_mode_a_coordination_number_is_found_as_the_register_has_it(
    eid_app, clock, rsa_keys, smtp
):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "eid")
    client = eid_app.test_client()
    assert int(PNR["S3"][6:8]) > 60  # a samordningsnummer
    done = sign_in(client, _start(setup.slug), PNR["S3"])
    assert done.status_code == 302
    assert voter_session(client)[EID_KEY]["member"] == "S3"


def test_eid_mode_refusals_no_match_not_on_roll_no_vote(eid_app, clock, rsa_keys, smtp, caplog):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "eid")
    client = eid_app.test_client()
    caplog.set_level("DEBUG")

    stranger = sign_in(client, _start(setup.slug), STRANGER)
    assert (stranger.status_code, _refusal(stranger)) == (403, "no_match")
    assert "finns inte i medlemsregistret" in stranger.get_data(as_text=True)
    off_roll = sign_in(client, _start(setup.slug), OFF_ROLL_PNR)
    assert (off_roll.status_code, _refusal(off_roll)) == (403, "not_on_roll")
    # Bromma: two candidates for two seats now, so no vote is held there.
    with db.transaction() as s:
        bromma = s.scalar(select(Contest).where(Contest.krets_code == "BROMMA"))
        bromma.seats = 2
    no_vote = sign_in(client, _start(setup.slug), PNR["B1"])
    assert (no_vote.status_code, _refusal(no_vote)) == (403, "no_vote")
    assert EID_KEY not in voter_session(client)
    # Nothing personal in the log: no personnummer, in any written form.
    logged = caplog.text
    for pnr in (STRANGER, OFF_ROLL_PNR, PNR["B1"]):
        for written in (pnr, pnr[2:], pnr[:8]):
            assert written not in logged


def test_eid_mode_refused_before_and_after_the_window(eid_app, clock, rsa_keys, smtp):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "eid")
    client = eid_app.test_client()
    # Voting closes while the member is at the provider: the callback refuses.
    start = client.post(_start(setup.slug))
    params = provider_login(start.headers["Location"], PNR["S1"], "http://localhost/eid/callback")
    clock.set(AFTER)
    late = client.get("/eid/callback", query_string=params)
    assert (late.status_code, _refusal(late)) == (403, "window_closed")
    refused = client.post(_start(setup.slug))
    assert (refused.status_code, _refusal(refused)) == (403, "window_closed")
    assert 'id="eid-sign-in"' not in client.get(f"/val/{setup.slug}/rosta").get_data(as_text=True)


def test_link_plus_eid_the_link_alone_signs_nothing(eid_app, clock, rsa_keys, smtp):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "link+eid")
    client = eid_app.test_client()
    client.get(f"/rosta/{setup.tokens['S1']}")
    page = client.get("/rosta")
    assert page.status_code == 200
    assert 'data-mode="link+eid"' in page.get_data(as_text=True)
    assert 'id="ballot-app"' not in page.get_data(as_text=True)
    contest = setup.contests["SODERMALM"]
    by_bearer = client.post(
        f"/api/v1/contests/{contest}/blind-sign",
        json={"blinded_msg": "AA"},
        headers={"Authorization": f"Bearer {setup.tokens['S1']}"},
    )
    assert (by_bearer.status_code, by_bearer.get_json()["error"]) == (401, "eid_required")
    by_cookie = client.get("/api/v1/voter")
    assert (by_cookie.status_code, by_cookie.get_json()["error"]) == (401, "eid_required")


def test_link_plus_eid_with_the_links_own_member_votes(eid_app, clock, rsa_keys, smtp):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "link+eid")
    client = eid_app.test_client()
    client.get(f"/rosta/{setup.tokens['S2']}")
    done = sign_in(client, _start(setup.slug), PNR["S2"])
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/rosta")
    cookie = voter_session(client)
    assert isinstance(cookie[VOTER_KEY], int)
    assert cookie[EID_KEY]["member"] == "S2"
    voter = _session_client(client)
    signed = voter.sign_ballot(
        setup.slug, setup.contests["SODERMALM"], setup.candidates["SODERMALM"][1:]
    )
    assert voter.cast(signed, election=setup.slug)["ballot_hash"]


def test_link_plus_eid_with_another_persons_eid_is_a_mismatch(eid_app, clock, rsa_keys, smtp):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "link+eid")
    client = eid_app.test_client()
    client.get(f"/rosta/{setup.tokens['S1']}")
    for pnr in (PNR["S2"], STRANGER):
        refused = sign_in(client, _start(setup.slug), pnr)
        assert (refused.status_code, _refusal(refused)) == (403, "mismatch")
    # Still only the link: no ballot, and the API still wants eID.
    assert 'id="ballot-app"' not in client.get("/rosta").get_data(as_text=True)
    assert client.get("/api/v1/voter").get_json()["error"] == "eid_required"


def test_link_plus_eid_needs_the_link_first(eid_app, clock, rsa_keys, smtp):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "link+eid")
    refused = eid_app.test_client().post(_start(setup.slug))
    assert (refused.status_code, _refusal(refused)) == (400, "flow")


def test_link_mode_is_unchanged_and_offers_no_eid(eid_app, clock, rsa_keys, smtp):
    setup = eid_election(eid_app, clock, rsa_keys, "http://localhost", "link")
    client = eid_app.test_client()
    assert 'id="eid-sign-in"' not in client.get(f"/val/{setup.slug}/rosta").get_data(as_text=True)
    refused = client.post(_start(setup.slug))
    assert _refusal(refused) == "flow"
    bearer = client.get("/api/v1/voter", headers={"Authorization": f"Bearer {setup.tokens['S1']}"})
    assert bearer.status_code == 200
