"""``voting admin list|disable|enable|reset-password|reset-totp``; logged without the email."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
from sqlalchemy import select

from tests.factories import PASSWORD, make_staff
from voting.admin.services import authenticate, totp_secret
from voting.db import db
from voting.log.services import REGISTER_LOG, entries
from voting.staff.models import StaffEid, User

NEW_PASSWORD = "lila elefanter dansar tango i regnet"


def _staff(clock, role="committee", email=None):
    with db.transaction() as s:
        user, secret = make_staff(s, role, clock(), email=email)
        return user.id, user.email, secret


def _events(name):
    db.session.rollback()
    return [json.loads(e.body)["data"] for e in entries(db.session, REGISTER_LOG, name)]


def test_list_shows_each_account_as_text_and_json(runner, clock):
    uid, email, secret = _staff(clock, "admin", "b-admin@example.org")
    _staff(clock, "auditor", "a-auditor@example.org")
    now = clock()
    with db.transaction() as s:
        authenticate(s, email, PASSWORD, pyotp.TOTP(secret).at(now), now)
        s.add(StaffEid(user_id=uid, pnr_lookup="0" * 64, created_at=now))
    assert runner.invoke(args=["admin", "disable", "a-auditor@example.org"]).exit_code == 0

    text = runner.invoke(args=["admin", "list"])
    as_json = runner.invoke(args=["admin", "list", "--json"])

    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].split() == ["id", "email", "role", "enabled", "totp", "eid", "last", "login"]
    auditor = ["a-auditor@example.org", "auditor", "no", "yes", "no", "never"]
    assert lines[1].split()[1:] == auditor
    assert lines[2].split()[1:6] == ["b-admin@example.org", "admin", "yes", "yes", "yes"]
    items = json.loads(as_json.output)
    assert [i["email"] for i in items] == ["a-auditor@example.org", "b-admin@example.org"]
    admin = items[1]
    assert admin == {
        "id": uid,
        "email": "b-admin@example.org",
        "role": "admin",
        "enabled": True,
        "disabled_at": None,
        "totp": True,
        "eid": True,
        "last_login": now.isoformat(),
        "created": now.isoformat(),
    }
    assert items[0]["enabled"] is False
    assert items[0]["disabled_at"] == now.isoformat()
    assert "password" not in as_json.output
    assert "secret" not in as_json.output


def test_list_without_accounts(runner):
    assert runner.invoke(args=["admin", "list"]).output == "No staff accounts.\n"
    assert json.loads(runner.invoke(args=["admin", "list", "--json"]).output) == []


def test_disable_and_enable_are_logged_by_account_id_and_idempotent(runner, clock):
    uid, email, _secret = _staff(clock)

    first = runner.invoke(args=["admin", "disable", email.upper()])
    again = runner.invoke(args=["admin", "disable", email])

    assert first.exit_code == 0
    assert "Disabled" in first.output
    assert again.exit_code == 0
    assert "nothing changed" in again.output
    assert _events("staff.disabled") == [{"user": uid, "by": "cli"}]
    user = db.session.get(User, uid)
    assert user.disabled_at == clock()
    assert user.session_epoch == 1

    assert runner.invoke(args=["admin", "enable", email]).exit_code == 0
    assert "nothing changed" in runner.invoke(args=["admin", "enable", email]).output
    assert _events("staff.enabled") == [{"user": uid, "by": "cli"}]
    assert db.session.get(User, uid).disabled_at is None


def test_reset_password_reads_stdin_or_prompts_hidden_and_is_logged(runner, clock):
    uid, email, secret = _staff(clock)

    piped = runner.invoke(
        args=["admin", "reset-password", email, "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    prompted = runner.invoke(
        args=["admin", "reset-password", email], input=f"{PASSWORD}\n{PASSWORD}\n"
    )

    assert piped.exit_code == 0, piped.output
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output
    assert _events("staff.password_reset") == [{"user": uid, "by": "cli"}] * 2
    assert db.session.get(User, uid).session_epoch == 2
    now = clock()
    with db.transaction() as s:
        assert authenticate(s, email, PASSWORD, pyotp.TOTP(secret).at(now), now).id == uid


def test_reset_totp_prints_the_new_secret_once_and_is_logged(runner, clock):
    uid, email, old_secret = _staff(clock)

    result = runner.invoke(args=["admin", "reset-totp", email])

    assert result.exit_code == 0, result.output
    user = db.session.get(User, uid)
    new_secret = totp_secret(user)
    assert new_secret != old_secret
    assert f"TOTP secret: {new_secret}" in result.output
    assert "Provisioning URI: otpauth://totp/Kongressval:" in result.output
    assert _events("staff.totp_reset") == [{"user": uid, "by": "cli"}]
    later = clock() + timedelta(seconds=30)
    with db.transaction() as s:
        assert authenticate(s, email, PASSWORD, pyotp.TOTP(new_secret).at(later), later)


def test_the_events_hold_no_email(runner, clock):
    _uid, email, _secret = _staff(clock)
    for args in (["disable"], ["enable"], ["reset-totp"]):
        assert runner.invoke(args=["admin", *args, email]).exit_code == 0
    runner.invoke(args=["admin", "reset-password", email, "--password-stdin"], input=NEW_PASSWORD)
    db.session.rollback()
    for entry in entries(db.session, REGISTER_LOG):
        assert "@" not in entry.body


def test_an_unknown_account_is_an_error(runner, clock):
    for command in ("disable", "enable", "reset-totp"):
        result = runner.invoke(args=["admin", command, "nobody@example.org"])
        assert result.exit_code == 1
        assert "Error: email: no staff account for nobody@example.org" in result.output
    result = runner.invoke(
        args=["admin", "reset-password", "nobody@example.org", "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert result.exit_code == 1
    assert db.session.scalar(select(User)) is None
