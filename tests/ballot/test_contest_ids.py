"""Odd contest ids in the URL: a 4xx JSON error and nothing stored, never a 500 (issue 14, F9)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ballots.ballot import b64url_encode
from voting.ballot.models import Ballot, SignatureIssued
from voting.db import MAX_ID, db, parse_id

ODD_IDS = [
    "%C2%B2",  # "²": str.isdigit() is true, int() refuses it
    "%D9%A3",  # "٣", an Arabic-Indic 3: int() takes it, but it is not how an id is written
    "%EF%BC%91",  # "１", a full-width 1
    str(MAX_ID + 1),  # past PostgreSQL's INTEGER
    "9" * 30,  # past SQLite's 64 bits
    "-1",
    "1e3",
    "0",
    "%20",
]


def _counts():
    counts = (
        db.session.scalar(select(func.count()).select_from(Ballot)),
        db.session.scalar(select(func.count()).select_from(SignatureIssued)),
    )
    db.session.rollback()
    return counts


@pytest.fixture
def signed(voting, voter_client):
    return voter_client(voting.tokens["S1"]).sign_ballot(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )


@pytest.mark.parametrize("contest_id", ODD_IDS)
def test_odd_contest_ids_are_unknown_contests(client, voting, signed, contest_id):
    before = _counts()
    cast = client.post(f"/api/v1/contests/{contest_id}/ballots", json=signed.body())
    sign = client.post(
        f"/api/v1/contests/{contest_id}/blind-sign",
        json={"blinded_msg": b64url_encode(b"\x01" * 256)},
        headers={"Authorization": f"Bearer {voting.tokens['S2']}"},
    )
    for response in (cast, sign):
        assert response.status_code == 404, response.get_data(as_text=True)
        assert response.get_json()["error"] == "unknown_contest"
    assert _counts() == before


def test_a_nul_in_the_contest_id_is_a_bad_request(client, voting, signed):
    before = _counts()
    response = client.post("/api/v1/contests/1%00/ballots", json=signed.body())
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert _counts() == before


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    # Without "/": Werkzeug decodes %2F before routing, so "0/" is another path (a redirect).
    # utf-8: a lone surrogate cannot be in a URL at all (quote() itself refuses it).
    contest_id=st.text(
        st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=30
    ),
    endpoint=st.sampled_from(["ballots", "blind-sign"]),
)
def test_any_contest_id_gets_a_json_4xx(client, voting, signed, contest_id, endpoint):
    before = _counts()
    response = client.post(
        f"/api/v1/contests/{quote(contest_id, safe='')}/{endpoint}",
        json=signed.body() if endpoint == "ballots" else {"blinded_msg": "AQ"},
        headers={"Authorization": f"Bearer {voting.tokens['S2']}"},
    )
    # The real contest's id may come up: then the body decides (the ballot is S1's, once).
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert set(response.get_json()) == {"error", "message"}
    if parse_id(contest_id) is None:
        assert response.status_code in (400, 404)
        assert _counts() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("0042", 42),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("9" * 400, None),
        ("²", None),
        ("٣", None),
        ("", None),
        ("-1", None),
        (" 1", None),
    ],
)
def test_parse_id(text, expected):
    assert parse_id(text) == expected
