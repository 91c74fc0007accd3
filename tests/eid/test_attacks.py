"""Attacks on the eID sign-in fail safely: a provider (or someone between) that misbehaves.

The real test provider cannot be made to sign a bad token, so these use RogueProvider
(tests/eid/conftest.py): discovery, JWKS, PKCE and client authentication as a provider does,
with ID tokens the test shapes and signs with joserfc. Each attack ends on a refusal page, with
no voter in the session; a baseline test shows the same path accepts a good token.
"""

from __future__ import annotations

import re
import time

import pytest
from joserfc.jwk import RSAKey

from tests.eid.conftest import LOA3, eid_election, rogue_callback, voter_session
from voting.ballot.voter import EID_KEY

PNR_CLAIM = "https://id.oidc.se/claim/personalIdentityNumber"


@pytest.fixture
def election(rogue_app, clock, rsa_keys, smtp):
    return eid_election(rogue_app, clock, rsa_keys, "http://localhost", "eid")


def _start(setup) -> str:
    return f"/val/{setup.slug}/rosta/e-legitimation"


def _code(response) -> str | None:
    match = re.search(r'id="eid-refusal" data-code="([a-z_]+)"', response.get_data(as_text=True))
    return match[1] if match else None


def _attempt(client, setup, **tamper_params):
    _answer, params = rogue_callback(client, _start(setup))
    params.update(tamper_params)
    return client.get("/eid/callback", query_string=params)


def _refused(response, code: str, client) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert _code(response) == code
    assert EID_KEY not in voter_session(client)


def test_baseline_a_good_token_signs_the_member_in(rogue_app, rogue, election):
    client = rogue_app.test_client()
    response = _attempt(client, election)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert voter_session(client)[EID_KEY]["member"] == "S1"


def test_a_tampered_state_is_refused(rogue_app, rogue, election):
    client = rogue_app.test_client()
    _answer, params = rogue_callback(client, _start(election))
    params["state"] = params["state"][:-2] + ("AA" if not params["state"].endswith("AA") else "BB")
    _refused(client.get("/eid/callback", query_string=params), "state", client)
    # The flow is spent: the genuine state afterwards is refused too.
    assert rogue.issued == []  # the code was never exchanged


def test_a_callback_without_a_started_sign_in_is_refused(rogue_app, rogue, election):
    client = rogue_app.test_client()
    _answer, params = rogue_callback(client, _start(election))
    other = rogue_app.test_client()  # another browser: no flow in its session
    _refused(other.get("/eid/callback", query_string=params), "state", other)


def test_a_replayed_callback_is_refused(rogue_app, rogue, election):
    client = rogue_app.test_client()
    _answer, params = rogue_callback(client, _start(election))
    assert client.get("/eid/callback", query_string=params).status_code == 302
    with client.session_transaction() as cookie:
        cookie.pop(EID_KEY)
    _refused(client.get("/eid/callback", query_string=params), "state", client)


def test_a_replayed_id_token_with_an_old_nonce_is_refused(rogue_app, rogue, election):
    client = rogue_app.test_client()
    assert _attempt(client, election).status_code == 302
    rogue.replay = rogue.issued[-1]  # a valid token, but minted for the first sign-in's nonce
    fresh = rogue_app.test_client()
    _refused(_attempt(fresh, election), "id_token", fresh)


def test_a_mismatched_nonce_is_refused(rogue_app, rogue, election):
    def shape(claims, header, key):
        return {**claims, "nonce": "not-the-nonce-we-sent"}, header, key

    rogue.shape = shape
    client = rogue_app.test_client()
    _refused(_attempt(client, election), "id_token", client)


def test_a_missing_nonce_is_refused(rogue_app, rogue, election):
    def shape(claims, header, key):
        claims = dict(claims)
        del claims["nonce"]
        return claims, header, key

    rogue.shape = shape
    client = rogue_app.test_client()
    _refused(_attempt(client, election), "id_token", client)


def test_an_expired_id_token_is_refused(rogue_app, rogue, election):
    def shape(claims, header, key):
        now = int(time.time())
        # Past the clock-skew allowance (EID_CLOCK_SKEW_SECONDS, 60 by default).
        return {**claims, "iat": now - 900, "exp": now - 120}, header, key

    rogue.shape = shape
    client = rogue_app.test_client()
    _refused(_attempt(client, election), "id_token", client)


def test_a_token_signed_by_a_key_not_in_the_jwks_is_refused(rogue_app, rogue, election):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})  # same kid!
    unknown = RSAKey.generate_key(2048, parameters={"kid": "nobody", "alg": "RS256"})
    for key in (stranger, unknown):
        rogue.sign_with = key
        client = rogue_app.test_client()
        _refused(_attempt(client, election), "id_token", client)
    # For the unknown kid the JWKS was fetched again (key rotation), and still refused.
    assert rogue.jwks_fetches >= 2


def test_a_rotated_key_is_fetched_and_accepted(rogue_app, rogue, election):
    client = rogue_app.test_client()
    assert _attempt(client, election).status_code == 302  # the JWKS with k1 is now cached
    fetches = rogue.jwks_fetches
    new = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})
    rogue.published = [new]
    rogue.sign_with = new
    again = rogue_app.test_client()
    response = _attempt(again, election)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert rogue.jwks_fetches == fetches + 1


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("aud", "another-client"),
        ("aud", ["another-client"]),
        ("iss", "https://evil.example"),
        ("acr", "http://id.elegnamnden.se/loa/1.0/loa2"),
    ],
)
def test_a_wrong_audience_issuer_or_level_of_assurance_is_refused(
    rogue_app, rogue, election, change, value
):
    def shape(claims, header, key):
        return {**claims, change: value}, header, key

    rogue.shape = shape
    client = rogue_app.test_client()
    _refused(_attempt(client, election), "id_token", client)


def test_a_token_without_the_personnummer_claim_is_refused(rogue_app, rogue, election):
    def shape(claims, header, key):
        return {k: v for k, v in claims.items() if k != PNR_CLAIM}, header, key

    rogue.shape = shape
    client = rogue_app.test_client()
    _refused(_attempt(client, election), "claim", client)


def test_a_malformed_personnummer_claim_is_refused(rogue_app, rogue, election):
    def shape(claims, header, key):
        return {**claims, PNR_CLAIM: "197003011234"}, header, key  # wrong check digit

    rogue.shape = shape
    client = rogue_app.test_client()
    _refused(_attempt(client, election), "claim", client)


def test_an_unsigned_token_is_refused(rogue_app, rogue, election):
    def shape(claims, header, key):
        return claims, {"alg": "none"}, key

    rogue.shape = shape
    client = rogue_app.test_client()
    _refused(_attempt(client, election), "id_token", client)


def test_a_token_response_without_an_id_token_is_refused(rogue_app, rogue, election):
    rogue.omit_id_token = True
    client = rogue_app.test_client()
    _refused(_attempt(client, election), "id_token", client)


def test_a_provider_error_or_cancel_is_a_clear_page(rogue_app, rogue, election):
    client = rogue_app.test_client()
    _answer, params = rogue_callback(client, _start(election))
    response = client.get(
        "/eid/callback", query_string={"state": params["state"], "error": "access_denied"}
    )
    _refused(response, "cancelled", client)
    assert "avbröts" in response.get_data(as_text=True)


def test_an_answer_naming_another_issuer_is_refused(rogue_app, rogue, election):
    client = rogue_app.test_client()
    _refused(_attempt(client, election, iss="https://evil.example"), "provider", client)


def test_acr_is_checked_only_when_asked(rogue, database_url, clock, tmp_path, rsa_keys, smtp):
    """Without EID_ACR_VALUES no level is asked for, and none is demanded of the token."""
    from tests.conftest import make_app
    from tests.eid.conftest import TEST_REDIRECT, eid_config

    app = make_app(
        database_url,
        clock,
        smtp.port,
        tmp_path,
        **{**eid_config(rogue.issuer, TEST_REDIRECT), "EID_ACR_VALUES": None},
    )
    with app.app_context():
        setup = eid_election(app, clock, rsa_keys, "http://localhost", "eid")

        def shape(claims, header, key):
            return {k: v for k, v in claims.items() if k != "acr"}, header, key

        rogue.shape = shape
        client = app.test_client()
        start = client.post(_start(setup))
        assert "acr_values" not in start.headers["Location"]
        assert _attempt(client, setup).status_code == 302
    app.extensions["db"]["engine"].dispose()
    assert LOA3  # the default test config asks for loa3 (see eid_config)
