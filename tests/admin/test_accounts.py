"""Staff accounts: argon2id hashes, encrypted TOTP secrets, one-time codes, session expiry."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from tests.factories import PASSWORD, make_staff
from voting.admin.errors import AccountError, LoginError
from voting.admin.services import (
    LOGIN_FAILED,
    authenticate,
    create_user,
    load_user,
    reset_password,
    totp_secret,
)
from voting.log.services import REGISTER_LOG, entries
from voting.staff.models import User


@pytest.mark.usefixtures("production_password_hashes")
def test_create_user_hashes_with_argon2id_and_encrypts_the_secret(db_session, clock):
    user, secret = create_user(db_session, " Kim@Example.ORG ", "committee", PASSWORD, clock())
    db_session.commit()
    assert user.email == "kim@example.org"
    assert user.password_hash.startswith("$argon2id$")
    assert "m=65536,t=3,p=4" in user.password_hash
    assert PASSWORD not in user.password_hash
    assert secret.encode() not in user.totp_secret_enc
    assert totp_secret(user) == secret
    assert len(secret) == 32  # 160 bits of base32
    (event,) = entries(db_session, REGISTER_LOG, "staff.created")
    assert json.loads(event.body)["data"] == {"user": user.id, "role": "committee", "by": "cli"}
    assert "kim" not in event.body


@pytest.mark.parametrize(
    ("email", "role", "password", "field"),
    [
        ("not-an-email", "committee", PASSWORD, "email"),
        ("kim@example.org", "king", PASSWORD, "role"),
        ("kim@example.org", "committee", "short pass", "password"),
        ("kim@example.org", "committee", " " * 20, "password"),
        ("kim@example.org", "committee", "x" * 1025, "password"),
    ],
)
def test_create_user_refuses_bad_input_naming_the_field(
    db_session, clock, email, role, password, field
):
    with pytest.raises(AccountError, match=f"^{field}:") as info:
        create_user(db_session, email, role, password, clock())
    assert info.value.field == field
    assert db_session.scalar(select(User)) is None


def test_create_user_refuses_a_duplicate_email(db_session, clock):
    create_user(db_session, "kim@example.org", "admin", PASSWORD, clock())
    with pytest.raises(AccountError, match="already exists"):
        create_user(db_session, "KIM@example.org", "auditor", PASSWORD, clock())


def test_authenticate_accepts_password_and_code_and_logs_it(db_session, clock):
    user, secret = make_staff(db_session, "committee", clock())
    now = clock()
    got = authenticate(db_session, user.email.upper(), PASSWORD, pyotp.TOTP(secret).at(now), now)
    assert got.id == user.id
    assert got.last_login_at == now
    assert got.totp_last_step == pyotp.TOTP(secret).timecode(now)
    logins = entries(db_session, REGISTER_LOG, "staff.login")
    assert [json.loads(e.body)["data"] for e in logins] == [{"user": user.id}]


def test_authenticate_accepts_one_step_of_clock_drift_but_not_two(db_session, clock):
    user, secret = make_staff(db_session, "committee", clock())
    now = clock()
    totp = pyotp.TOTP(secret)
    authenticate(db_session, user.email, PASSWORD, totp.at(now - timedelta(seconds=30)), now)
    with pytest.raises(LoginError):
        authenticate(db_session, user.email, PASSWORD, totp.at(now + timedelta(seconds=90)), now)


@pytest.mark.parametrize("wrong", ["email", "password", "code", "code_format"])
def test_every_failure_gives_the_same_message(db_session, clock, wrong):
    user, secret = make_staff(db_session, "committee", clock())
    now = clock()
    good_code = pyotp.TOTP(secret).at(now)
    args = {"email": user.email, "password": PASSWORD, "code": good_code}
    args[wrong.removesuffix("_format")] = {
        "email": "nobody@example.org",
        "password": PASSWORD + "!",
        "code": f"{(int(good_code) + 1) % 1_000_000:06d}",
        "code_format": "abcdef",
    }[wrong]
    with pytest.raises(LoginError) as info:
        authenticate(db_session, args["email"], args["password"], args["code"], now)
    assert info.value.message == LOGIN_FAILED
    assert db_session.get(User, user.id).last_login_at is None
    assert entries(db_session, REGISTER_LOG, "staff.login") == []


def test_a_code_cannot_be_replayed_nor_an_earlier_one_used(db_session, clock):
    user, secret = make_staff(db_session, "committee", clock())
    now = clock()
    totp = pyotp.TOTP(secret)
    authenticate(db_session, user.email, PASSWORD, totp.at(now), now)
    with pytest.raises(LoginError):
        authenticate(db_session, user.email, PASSWORD, totp.at(now), now + timedelta(seconds=5))
    with pytest.raises(LoginError):  # an older step, still inside the drift window
        authenticate(db_session, user.email, PASSWORD, totp.at(now - timedelta(seconds=30)), now)
    later = now + timedelta(seconds=30)
    assert authenticate(db_session, user.email, PASSWORD, totp.at(later), later).id == user.id


@pytest.mark.usefixtures("production_password_hashes")
def test_authenticate_keeps_an_outdated_hash_and_a_reset_renews_it(db_session, clock):
    # The app's database role may not write password hashes (deploy/postgresql/grants.sql).
    user, secret = make_staff(db_session, "admin", clock())
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user.password_hash = old
    db_session.flush()
    now = clock()
    authenticate(db_session, user.email, PASSWORD, pyotp.TOTP(secret).at(now), now)
    assert user.password_hash == old
    reset_password(db_session, user.email, PASSWORD, now)
    assert "m=65536,t=3,p=4" in user.password_hash


def test_load_user_expires_after_the_configured_minutes(app, db_session, clock):
    user, _secret = make_staff(db_session, "auditor", clock())
    db_session.commit()
    login_time = clock()
    cookie = {"staff_uid": user.id, "staff_auth_at": login_time.isoformat(), "staff_epoch": 0}
    limit = timedelta(minutes=app.config["ADMIN_SESSION_MINUTES"])
    assert load_user(db_session, cookie, login_time + limit - timedelta(seconds=1)).id == user.id
    assert load_user(db_session, dict(cookie), login_time + limit) is None
    assert load_user(db_session, dict(cookie), login_time - timedelta(minutes=5)) is None
    assert load_user(db_session, {"staff_uid": user.id}, login_time) is None
    assert load_user(db_session, {**cookie, "staff_epoch": None}, login_time) is None
    assert load_user(db_session, {**cookie, "staff_epoch": 1}, login_time) is None
    assert load_user(db_session, {**cookie, "staff_auth_at": "yesterday"}, login_time) is None
    assert load_user(db_session, {**cookie, "staff_uid": str(user.id)}, login_time) is None
    expired = dict(cookie, lang="en")
    load_user(db_session, expired, login_time + limit)
    assert expired == {"lang": "en"}  # an expired login is forgotten
