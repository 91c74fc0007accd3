"""The login page: success, failure, replay, expiry, ``next``, fixation, logout, rate limit."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from tests.conftest import make_app
from tests.factories import PASSWORD, login, make_staff
from voting.admin.services import LOGIN_FAILED
from voting.db import db


@pytest.fixture
def committee(app, clock):
    with db.transaction() as s:
        user, secret = make_staff(s, "committee", clock())
        return user.email, secret


def test_login_page_renders_an_accessible_form(client):
    page = client.get("/admin/login").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page
    assert '<label for="code">' in page
    assert 'type="password"' in page


def test_login_then_dashboard(client, clock, committee, seed):
    email, secret = committee
    response = login(client, email, secret, clock())
    assert response.status_code == 302
    assert response.location == "/admin/"
    page = client.get("/admin/").get_data(as_text=True)
    assert seed.slug in page
    assert "1 nominering väntar på granskning." in page
    assert email in page
    with client.session_transaction() as cookie:
        assert isinstance(cookie["staff_uid"], int)
        assert cookie["staff_auth_at"] == clock().isoformat()


@pytest.mark.parametrize("wrong", ["password", "code", "email"])
def test_failed_login_shows_one_message_and_no_session(client, clock, committee, wrong):
    email, secret = committee
    data = {"email": email, "password": PASSWORD, "code": pyotp.TOTP(secret).at(clock())}
    data[wrong] = {"password": "wrong password!", "code": "000000", "email": "x@example.org"}[wrong]
    if wrong == "code" and data["code"] == pyotp.TOTP(secret).at(clock()):
        data["code"] = "000001"
    response = client.post("/admin/login", data=data)
    assert response.status_code == 400
    assert LOGIN_FAILED in response.get_data(as_text=True)
    with client.session_transaction() as cookie:
        assert "staff_uid" not in cookie
    assert client.get("/admin/").status_code == 302


def test_replayed_code_is_refused(app, client, clock, committee):
    email, secret = committee
    assert login(client, email, secret, clock()).status_code == 302
    other = app.test_client()
    response = login(other, email, secret, clock())
    assert response.status_code == 400
    assert LOGIN_FAILED in response.get_data(as_text=True)


def test_session_expires(client, clock, committee, app):
    email, secret = committee
    login(client, email, secret, clock())
    assert client.get("/admin/").status_code == 200
    clock.set(clock() + timedelta(minutes=app.config["ADMIN_SESSION_MINUTES"], seconds=1))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.location.startswith("/admin/login?next=")
    with client.session_transaction() as cookie:
        assert "staff_uid" not in cookie


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/admin/val/x/kandidater?krets=A", "/admin/val/x/kandidater?krets=A"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/", "/admin/"),
        ("/\\evil.example/", "/admin/"),
        ("/\t/evil.example/", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
        ("admin/", "/admin/"),
        ("", "/admin/"),
    ],
)
def test_next_only_goes_to_same_site_paths(client, clock, committee, next_url, expected):
    email, secret = committee
    response = login(client, email, secret, clock(), next=next_url)
    assert response.status_code == 302
    assert response.location == expected


def test_redirect_to_login_carries_next_and_the_form_keeps_it(client):
    response = client.get("/admin/val/abc/kandidater")
    assert response.location == "/admin/login?next=/admin/val/abc/kandidater?"
    page = client.get(response.location).get_data(as_text=True)
    assert 'value="/admin/val/abc/kandidater?"' in page


def test_login_replaces_the_old_session(client, clock, committee):
    email, secret = committee
    with client.session_transaction() as cookie:
        cookie["planted"] = "by an attacker"
        cookie["lang"] = "en"
    login(client, email, secret, clock())
    with client.session_transaction() as cookie:
        assert "planted" not in cookie
        assert cookie["lang"] == "en"


def test_logout(client, clock, committee):
    email, secret = committee
    login(client, email, secret, clock())
    assert client.get("/admin/logout").status_code == 405
    response = client.post("/admin/logout")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_login_is_rate_limited(database_url, clock, _smtp_server, tmp_path):  # noqa: PT019
    limited = make_app(
        database_url,
        clock,
        _smtp_server.port,
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_LOGIN="3 per minute",
    )
    try:
        client = limited.test_client()
        data = {"email": "x@example.org", "password": "wrong password!", "code": "123456"}
        codes = [client.post("/admin/login", data=data).status_code for _ in range(4)]
        assert codes == [400, 400, 400, 429]
        assert client.get("/admin/login").status_code == 200  # reading the form is not limited
    finally:
        limited.extensions["db"]["engine"].dispose()
