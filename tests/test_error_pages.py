"""Error pages: in the visitor's language, with the site's header, a <main> and a way back;
JSON on the API; no exception details on a 500; the 503 outage answer unchanged (issue 14)."""

from __future__ import annotations

import re

import pytest
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import BadRequest, TooManyRequests

from tests.ballot.conftest import BEFORE, ELECTION
from voting.db import db
from voting.elections.services import create_election

SECRET = "kv-secret-detail-7f3a"


@pytest.fixture
def app(app):
    """The app with routes that fail in given ways, answering as in production (no propagation)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom():
        raise RuntimeError(f"{SECRET} in a traceback")

    def refused_write():
        raise sa_exc.IntegrityError(f"INSERT {SECRET}", {}, Exception(SECRET))

    def outage():
        raise sa_exc.OperationalError("SELECT 1", {}, Exception(f"host {SECRET}"))

    def limited():
        raise TooManyRequests()

    def csrf():
        raise CSRFError()

    def bad_json():
        raise BadRequest(f"Failed to decode JSON object: {SECRET}")

    for rule, view in [
        ("/_test/boom", boom),
        ("/api/v1/_test/boom", boom),
        ("/_test/refused-write", refused_write),
        ("/_test/outage", outage),
        ("/api/v1/_test/outage", outage),
        ("/_test/limited", limited),
        ("/_test/csrf", csrf),
        ("/_test/bad-json", bad_json),
    ]:
        app.add_url_rule(rule, rule, view, methods=["GET"])
    return app


def _assert_page(response, status: int, title: str, lang: str = "sv") -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert '<header class="site">' in page  # the site's header: base.html
    assert len(re.findall(r"<main\b", page)) == 1
    assert re.search(rf"<h1>{re.escape(title)}</h1>", page), page
    assert re.search(r'<a href="/">[^<]+</a>\s*</p>', page), "no way back to the start page"
    assert "Traceback" not in page
    assert SECRET not in page
    return page


def test_an_unknown_page_is_a_404_page(client):
    page = _assert_page(client.get("/finns-inte"), 404, "Sidan finns inte")
    assert "Not Found" not in page
    assert "Till startsidan" in page


def test_the_404_page_follows_the_chosen_language(client):
    page = _assert_page(client.get("/finns-inte?lang=en"), 404, "Page not found", lang="en")
    assert "To the home page" in page
    # The choice is kept in the session, as on every other page.
    _assert_page(client.get("/finns-inte/heller"), 404, "Page not found", lang="en")


def test_results_before_they_are_published_are_a_404_page(client):
    with db.transaction() as s:
        election = create_election(s, ELECTION, BEFORE, by="cli")
        slug = election.slug
    _assert_page(client.get(f"/val/{slug}/resultat"), 404, "Sidan finns inte")
    _assert_page(client.get("/val/finns-inte/resultat"), 404, "Sidan finns inte")


def test_an_id_past_the_database_integer_is_a_404_page(client):
    _assert_page(client.get(f"/kandidat/foto/{'9' * 30}.jpg"), 404, "Sidan finns inte")
    _assert_page(client.get("/kandidat/foto/2147483648.jpg"), 404, "Sidan finns inte")


def test_a_wrong_method_is_a_405_page_with_allow(client):
    response = client.delete("/")
    _assert_page(response, 405, "Sidan kan inte användas så")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_a_body_too_large_is_a_413_page(client):
    response = client.post("/admin/login", data={"email": "x" * (4 * 1024 * 1024)})
    _assert_page(response, 413, "För stort")


def test_too_many_tries_is_a_429_page_with_retry_after(client):
    response = client.get("/_test/limited")
    _assert_page(response, 429, "För många försök")
    assert response.headers["Retry-After"]


def test_a_stale_form_is_a_400_page(client):
    _assert_page(client.get("/_test/csrf"), 400, "Sidan har gått ut")


def test_a_bad_request_shows_no_parser_message(client):
    page = _assert_page(client.get("/_test/bad-json"), 400, "Felaktig förfrågan")
    assert "Failed to decode" not in page


def test_a_staff_user_without_the_right_gets_a_403_page(client, login_as):
    login_as("auditor")
    _assert_page(client.get("/admin/members"), 403, "Ingen behörighet")


@pytest.mark.parametrize("path", ["/_test/boom", "/_test/refused-write"])
def test_a_crash_is_a_500_page_without_details(client, path, caplog):
    _assert_page(client.get(path), 500, "Något gick fel")
    # The details go to the log, not to the visitor.
    assert any(record.levelname == "ERROR" for record in caplog.records)


def test_a_crash_on_the_api_is_json_without_details(client):
    response = client.get("/api/v1/_test/boom")
    assert response.status_code == 500
    assert response.get_json()["error"] == "internal_error"
    assert SECRET not in response.get_data(as_text=True)


def test_a_crash_for_a_staff_user_is_a_500_page(client, login_as):
    login_as("committee")
    page = _assert_page(client.get("/_test/boom"), 500, "Något gick fel")
    assert "Logga ut" not in page  # made without the staff user (and their database row)


@pytest.mark.parametrize("path", ["/_test/outage", "/api/v1/_test/outage"])
def test_the_outage_answer_is_still_a_503_with_retry_after(app, client, path):
    response = client.get(path)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(app.config["OUTAGE_RETRY_AFTER"])
    assert SECRET not in response.get_data(as_text=True)
    if path.startswith("/api/"):
        assert response.get_json()["error"] == "unavailable"
    else:
        assert "Tillfälligt otillgänglig" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/finns-inte", 404, "not_found"),
        ("POST", "/api/v1/elections/x/board", 405, "method_not_allowed"),
        ("GET", "/api/v1/elections/x%00/board", 400, "bad_request"),
        ("GET", "/api/v1/elections/x/board?a=%00", 400, "bad_request"),
    ],
)
def test_the_api_answers_errors_in_json(client, method, path, status, code):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == code
    assert body["message"]
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_a_json_client_gets_json_off_the_api_too(client):
    response = client.get("/finns-inte", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/val/%00/resultat",
        "/val/x%00y/kandidater",
        "/rosta/%00",
        "/kandidat/%00",
        "/nominera/bekrafta/%00",
        "/?lang=%00",
        "/val/x/resultat?x%00=1",
    ],
)
def test_a_nul_in_the_address_is_a_400_page(client, path):
    _assert_page(client.get(path), 400, "Felaktig förfrågan")
