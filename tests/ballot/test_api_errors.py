"""Every API error: a JSON {"error", "message"} with a 4xx status, and nothing stored."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ballots.ballot import b64url_encode, canonical_ballot, new_nonce
from voting.ballot.models import Ballot, SignatureIssued
from voting.db import db


def _counts():
    return (
        db.session.scalar(select(func.count()).select_from(Ballot)),
        db.session.scalar(select(func.count()).select_from(SignatureIssued)),
    )


def _assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == code
    assert body["message"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "bad_body"),
        ({"blinded_msg": 5}, "bad_encoding"),
        ({"blinded_msg": "a=="}, "bad_encoding"),
        ({"blinded_msg": b64url_encode(b"\x01" * 10)}, "bad_encoding"),
        ({"blinded_msg": b64url_encode(b"\xff" * 256)}, "invalid_blinded_msg"),
        ({"blinded_msg": b64url_encode(b"\x01" * 256), "extra": 1}, "bad_body"),
    ],
)
def test_blind_sign_bad_bodies(client, voting, body, code):
    response = client.post(
        f"/api/v1/contests/{voting.contests['BROMMA']}/blind-sign",
        json=body,
        headers={"Authorization": f"Bearer {voting.tokens['B1']}"},
    )
    _assert_error(response, 400, code)
    assert _counts() == (0, 0)


def test_blind_sign_auth_errors(client, voting):
    url = f"/api/v1/contests/{voting.contests['BROMMA']}/blind-sign"
    body = {"blinded_msg": b64url_encode(b"\x01" * 256)}
    _assert_error(client.post(url, json=body), 401, "unauthenticated")
    _assert_error(
        client.post(url, json=body, headers={"Authorization": "Bearer nope"}),
        401,
        "unauthenticated",
    )
    # A cookie session without the CSRF header is refused.
    client.get(f"/rosta/{voting.tokens['B1']}")
    _assert_error(client.post(url, json=body), 400, "csrf")
    _assert_error(
        client.post(
            "/api/v1/contests/999/blind-sign",
            json=body,
            headers={"Authorization": f"Bearer {voting.tokens['B1']}"},
        ),
        404,
        "unknown_contest",
    )
    not_json = client.post(
        url, data="x", headers={"Authorization": f"Bearer {voting.tokens['B1']}"}
    )
    _assert_error(not_json, 400, "bad_body")
    assert _counts() == (0, 0)


def test_manifest_and_board_of_unknown_election(client, voting):
    _assert_error(client.get("/api/v1/elections/nope/manifest"), 404, "unknown_election")
    _assert_error(client.get("/api/v1/elections/nope/board"), 404, "unknown_election")


@pytest.fixture
def signed(voting, voter_client):
    return voter_client(voting.tokens["S1"]).sign_ballot(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )


def _mutations(voting, signed):
    contest = voting.contests["SODERMALM"]
    good = signed.body()
    cands = voting.candidates["SODERMALM"]
    return [
        ({k: v for k, v in good.items() if k != "signature"}, "bad_body"),
        ({**good, "extra": "x"}, "bad_body"),
        ({**good, "ballot": 5}, "bad_body"),
        ({**good, "msg_prefix": "abc="}, "bad_encoding"),
        ({**good, "msg_prefix": b64url_encode(b"x" * 31)}, "bad_encoding"),
        ({**good, "signature": good["signature"][:-4]}, "bad_encoding"),
        ({**good, "ballot": good["ballot"].replace(",", ", ", 1)}, "ballot_not_canonical"),
        (
            {
                **good,
                "ballot": canonical_ballot(voting.slug, contest, ["999", cands[0]], new_nonce()),
            },
            "ballot_unknown_candidate",
        ),
        (
            {**good, "ballot": canonical_ballot(voting.slug, contest, cands[:1], new_nonce())},
            "ballot_selection_count",
        ),
        (
            {**good, "ballot": canonical_ballot("other", contest, cands[:2], new_nonce())},
            "ballot_wrong_election",
        ),
        (
            {**good, "ballot": canonical_ballot(voting.slug, contest, cands[:2], new_nonce())},
            "invalid_signature",
        ),
    ]


def test_cast_bad_bodies(client, voting, signed):
    url = f"/api/v1/contests/{voting.contests['SODERMALM']}/ballots"
    for body, code in _mutations(voting, signed):
        _assert_error(client.post(url, json=body), 400, code)
    assert _counts() == (0, 1)
    assert client.post(url, json=signed.body()).status_code == 201


def test_cast_needs_no_cookie_and_sets_none(client, voting, signed):
    response = client.post(
        f"/api/v1/contests/{voting.contests['SODERMALM']}/ballots", json=signed.body()
    )
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


def _containers(children):
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=12), children, max_size=4
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40), _containers, max_leaves=12
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"ballot": json_values, "msg_prefix": json_values, "signature": json_values}
        ),
        st.fixed_dictionaries({"blinded_msg": st.text(alphabet="abcXYZ019-_=+/", max_size=400)}),
    ),
    endpoint=st.sampled_from(["ballots", "blind-sign"]),
)
def test_fuzzed_bodies_get_4xx_and_store_nothing(client, voting, body, endpoint):
    response = client.post(
        f"/api/v1/contests/{voting.contests['BROMMA']}/{endpoint}",
        json=body,
        headers={"Authorization": f"Bearer {voting.tokens['B2']}"},
    )
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert set(response.get_json()) == {"error", "message"}
    db.session.rollback()
    assert _counts() == (0, 0)


def test_deeply_nested_json_is_a_bad_body_not_a_crash(client, voting):
    url = f"/api/v1/contests/{voting.contests['BROMMA']}/ballots"
    nested = "[" * 20_000 + "]" * 20_000  # under the size cap, past the decoder's depth
    response = client.post(url, data=nested, content_type="application/json")
    _assert_error(response, 400, "bad_body")
    assert "nested" in response.get_json()["message"]
    assert _counts() == (0, 0)


def test_the_api_reads_no_large_bodies(client, voting):
    url = f"/api/v1/contests/{voting.contests['BROMMA']}/ballots"
    big = {"ballot": "x" * 70_000, "msg_prefix": "", "signature": ""}
    _assert_error(client.post(url, json=big), 413, "too_large")
    assert _counts() == (0, 0)
