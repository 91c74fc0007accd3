"""Issue 11, F4: a staff session ends when it should, and a copy of its cookie ends with it.

Each test keeps a copy of a logged-in session cookie (as someone who read it off the wire, a
shared computer or a proxy log would), does what should end the session, and replays the copy.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pyotp
import pytest

from tests.factories import PASSWORD, login, make_staff
from voting.admin.services import LOGIN_FAILED
from voting.db import db
from voting.log.services import REGISTER_LOG, entries

NEW_PASSWORD = "lila elefanter dansar tango i regnet"


@pytest.fixture
def committee(app, clock):
    with db.transaction() as s:
        user, secret = make_staff(s, "committee", clock())
        return user.id, user.email, secret


def _log_in(app, email, secret, moment):
    """A browser logged in as ``email``, and a copy of its session cookie."""
    browser = app.test_client()
    assert login(browser, email, secret, moment).status_code == 302
    assert browser.get("/admin/").status_code == 200
    return browser, browser.get_cookie("kv_session").value


def _replay(app, cookie):
    attacker = app.test_client()
    attacker.set_cookie("kv_session", cookie)
    return attacker.get("/admin/")


def _sent_to_login(response) -> bool:
    return response.status_code == 302 and response.location.startswith("/admin/login")


def test_a_copied_cookie_works_until_something_ends_the_session(app, clock, committee):
    """The control: the replay itself is sound, so the tests below test the ending."""
    _uid, email, secret = committee
    _browser, copy = _log_in(app, email, secret, clock())
    assert _replay(app, copy).status_code == 200


def test_logout_ends_the_session_and_every_copy_of_its_cookie(app, clock, committee):
    uid, email, secret = committee
    browser, copy = _log_in(app, email, secret, clock())
    other_browser, _ = _log_in(app, email, secret, clock() + timedelta(seconds=30))

    assert browser.post("/admin/logout").status_code == 302

    assert _sent_to_login(_replay(app, copy))
    assert _sent_to_login(browser.get("/admin/"))
    # The account's sessions end everywhere: logging out is "log me out", not "this tab".
    assert _sent_to_login(other_browser.get("/admin/"))
    (event,) = entries(db.session, REGISTER_LOG, "staff.logout")
    assert json.loads(event.body)["data"] == {"user": uid}
    # Logging in again works and gives a session that holds.
    clock.set(clock() + timedelta(seconds=60))
    fresh, _ = _log_in(app, email, secret, clock())
    assert fresh.get("/admin/").status_code == 200
    assert _sent_to_login(_replay(app, copy))


def test_a_password_reset_ends_the_sessions(app, runner, clock, committee):
    uid, email, secret = committee
    _browser, copy = _log_in(app, email, secret, clock())

    result = runner.invoke(
        args=["admin", "reset-password", email, "--password-stdin"], input=NEW_PASSWORD + "\n"
    )

    assert result.exit_code == 0, result.output
    assert _sent_to_login(_replay(app, copy))
    clock.set(clock() + timedelta(seconds=30))
    code = pyotp.TOTP(secret).at(clock())
    refused = app.test_client().post(
        "/admin/login", data={"email": email, "password": PASSWORD, "code": code}
    )
    assert refused.status_code == 400  # the old password is gone
    assert LOGIN_FAILED in refused.get_data(as_text=True)
    fresh = app.test_client()
    assert login(fresh, email, secret, clock(), password=NEW_PASSWORD).status_code == 302
    assert fresh.get("/admin/").status_code == 200


def test_a_totp_reset_ends_the_sessions_and_the_old_codes(app, runner, clock, committee):
    _uid, email, secret = committee
    _browser, copy = _log_in(app, email, secret, clock())

    result = runner.invoke(args=["admin", "reset-totp", email])

    assert result.exit_code == 0, result.output
    new_secret = re.search(r"TOTP secret: ([A-Z2-7]{32})", result.output).group(1)
    assert "Provisioning URI: otpauth://totp/" in result.output
    assert _sent_to_login(_replay(app, copy))
    clock.set(clock() + timedelta(seconds=30))
    old = app.test_client()
    assert login(old, email, secret, clock()).status_code == 400
    fresh = app.test_client()
    assert login(fresh, email, new_secret, clock()).status_code == 302
    assert fresh.get("/admin/").status_code == 200


def test_disabling_ends_the_sessions_and_refuses_logins_until_enabled(
    app, runner, clock, committee
):
    _uid, email, secret = committee
    _browser, copy = _log_in(app, email, secret, clock())

    assert runner.invoke(args=["admin", "disable", email]).exit_code == 0

    assert _sent_to_login(_replay(app, copy))
    clock.set(clock() + timedelta(seconds=30))
    refused = login(app.test_client(), email, secret, clock())
    assert refused.status_code == 400
    assert LOGIN_FAILED in refused.get_data(as_text=True)  # the same message as any failure

    assert runner.invoke(args=["admin", "enable", email]).exit_code == 0

    clock.set(clock() + timedelta(seconds=30))
    fresh = app.test_client()
    assert login(fresh, email, secret, clock()).status_code == 302
    assert fresh.get("/admin/").status_code == 200
    assert _sent_to_login(_replay(app, copy))  # enabling does not revive the old sessions
