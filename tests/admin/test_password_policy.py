"""Issue 11, F11: staff passwords that are short, repetitive, common or easy to guess are refused.

Each refusal names its problem, on account creation and on a password reset alike.
"""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from tests.factories import PASSWORD, make_staff
from voting.admin.errors import WeakPassword
from voting.admin.passwords import check_password_policy
from voting.admin.services import create_user, reset_password
from voting.db import db
from voting.staff.models import User

# (password, the problem's code, words the message must contain)
WEAK = [
    ("aaaaaaaaaaaa", "repetitive", "too repetitive"),  # the finding's own example
    ("abababababababab", "repetitive", "only 2 different characters"),
    ("short pass", "too_short", "at least 12 characters"),
    (" " * 20, "too_short", "at least 12 characters"),
    ("x" * 1025, "too_long", "at most 1024"),
    ("password1234", "common", "most common passwords"),
    ("Password1234", "common", "most common passwords"),
    ("1qaz2wsx3edc", "common", "most common passwords"),
    ("qwertyuiopas", "guessable", "too easy to guess"),
    ("iloveyou1234", "guessable", "too easy to guess"),
    ("kongressval2027", "guessable", "too easy to guess"),
]


@pytest.mark.parametrize(("password", "code", "words"), WEAK)
def test_the_policy_names_the_problem(password, code, words):
    with pytest.raises(WeakPassword) as info:
        check_password_policy(password)
    assert info.value.code == code
    assert info.value.field == "password"
    assert info.value.message.startswith("password: ")
    assert words in info.value.message


def test_the_account_address_counts_as_a_guess():
    check_password_policy("kim.andersson.1987")
    with pytest.raises(WeakPassword, match="too easy to guess"):
        check_password_policy("kim.andersson.1987", "kim.andersson@example.org")


@pytest.mark.parametrize(
    "password",
    [
        PASSWORD,
        "lila elefanter dansar tango",
        "Sommaren2027!",
        pytest.param(secrets.token_urlsafe(12), id="random"),
    ],
)
def test_good_passwords_pass(password):
    check_password_policy(password, "kim@example.org")


@pytest.mark.parametrize(("password", "code", "words"), WEAK[:3] + WEAK[5:8])
def test_create_user_refuses_weak_passwords(db_session, clock, password, code, words):
    with pytest.raises(WeakPassword, match=words):
        create_user(db_session, "kim@example.org", "admin", password, clock())
    assert db_session.scalar(select(User)) is None


@pytest.mark.parametrize(
    ("password", "words"),
    [("aaaaaaaaaaaa", "too repetitive"), ("password1234", "most common passwords")],
)
def test_reset_password_refuses_weak_passwords_and_keeps_the_old(
    db_session, clock, password, words
):
    user, _secret = make_staff(db_session, "committee", clock())
    old_hash, epoch = user.password_hash, user.session_epoch
    with pytest.raises(WeakPassword, match=words):
        reset_password(db_session, user.email, password, clock())
    assert user.password_hash == old_hash
    assert user.session_epoch == epoch  # a refused reset ends nothing


@pytest.mark.parametrize(
    ("password", "words"),
    [
        ("aaaaaaaaaaaa", "too repetitive"),
        ("password1234", "one of the most common passwords"),
        ("qwertyuiopas", "too easy to guess"),
        ("kort", "at least 12 characters"),
    ],
)
@pytest.mark.parametrize("command", ["create", "reset-password"])
def test_the_commands_refuse_weak_passwords_with_a_clear_error(
    app, runner, clock, password, words, command
):
    with db.transaction() as s:
        user, _secret = make_staff(s, "admin", clock())
        email, old_hash = user.email, user.password_hash
    args = ["admin", command, email if command == "reset-password" else "kim@example.org"]
    if command == "create":
        args += ["--role", "committee"]

    result = runner.invoke(args=[*args, "--password-stdin"], input=password + "\n")

    assert result.exit_code == 1
    assert f"Error: password: {words}" in result.output or words in result.output
    assert "Traceback" not in result.output
    assert db.session.scalar(select(User.password_hash).where(User.email == email)) == old_hash
    assert db.session.scalar(select(User).where(User.email == "kim@example.org")) is None
