"""Issue 11, F11: login guesses against one account are slowed per account, from any address.

The per-address limit (RATELIMIT_LOGIN) stays; an attacker with many addresses gets it many
times over, so each account's failures in a row make its next attempt wait, whoever sends it.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from tests.conftest import make_app
from tests.factories import PASSWORD, make_staff
from voting.admin.errors import LoginError
from voting.admin.services import LOGIN_FAILED, LoginBackoff, claim_login_attempt
from voting.db import db
from voting.staff.models import User

BACKOFF = LoginBackoff()  # the defaults: 5 free failures, then 2 s doubling up to 15 minutes


@pytest.fixture
def limited(database_url, clock, _smtp_server, tmp_path):  # noqa: PT019
    """The app with its rate limits on, as in production (default per-address login limit)."""
    application = make_app(database_url, clock, _smtp_server.port, tmp_path, RATELIMIT_ENABLED=True)
    with application.app_context():
        yield application
    application.extensions["db"]["engine"].dispose()


@pytest.fixture
def account(limited, clock):
    with db.transaction() as s:
        user, secret = make_staff(s, "admin", clock())
        return user.id, user.email, secret


class Attacker:
    """Sends each guess from an address of its own, so no per-address limit is ever reached."""

    def __init__(self, app):
        self.app = app
        self.addresses = 0

    def post(self, data):
        self.addresses += 1
        client = self.app.test_client()
        address = f"198.51.{self.addresses // 250}.{self.addresses % 250 + 1}"
        return client.post("/admin/login", data=data, environ_base={"REMOTE_ADDR": address})

    def guess(self, email):
        return self.post({"email": email, "password": "not the password!", "code": "123456"})


def _state(user_id):
    db.session.rollback()
    user = db.session.get(User, user_id)
    return user.failed_logins, user.login_delay_until


def test_guesses_from_many_addresses_are_slowed_per_account(limited, clock, account):
    uid, email, secret = account
    attacker = Attacker(limited)
    start = clock()
    for _ in range(BACKOFF.free_failures):
        assert attacker.guess(email).status_code == 400
    assert _state(uid) == (BACKOFF.free_failures, start + timedelta(seconds=2))

    # During the delay even the right password and code are refused, with the one message.
    right = {"email": email, "password": PASSWORD, "code": pyotp.TOTP(secret).at(clock())}
    refused = attacker.post(right)
    assert refused.status_code == 400
    assert LOGIN_FAILED in refused.get_data(as_text=True)
    assert db.session.get(User, uid).last_login_at is None
    # Refused attempts during the delay neither count nor make it longer.
    for _ in range(20):
        assert attacker.guess(email).status_code == 400
    assert _state(uid) == (BACKOFF.free_failures, start + timedelta(seconds=2))

    # Each further failure doubles the wait, up to the cap.
    waits = []
    for _ in range(12):
        _failures, until = _state(uid)
        clock.set(until)
        assert attacker.guess(email).status_code == 400
        waits.append((_state(uid)[1] - clock()).total_seconds())
    assert waits == [4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]
    assert attacker.addresses == 38  # one guess per address: each far below its own limit

    # Once the wait is over, the owner logs in, and the count starts afresh.
    clock.set(_state(uid)[1] + timedelta(seconds=30))
    owner = limited.test_client()
    right["code"] = pyotp.TOTP(secret).at(clock())
    response = owner.post("/admin/login", data=right)
    assert response.status_code == 302
    assert owner.get("/admin/").status_code == 200
    assert _state(uid) == (0, None)


def test_a_few_mistakes_cost_nothing_and_success_resets_the_count(limited, clock, account):
    uid, email, secret = account
    attacker = Attacker(limited)
    for _ in range(BACKOFF.free_failures - 1):
        attacker.guess(email)
    assert _state(uid) == (BACKOFF.free_failures - 1, None)
    right = {"email": email, "password": PASSWORD, "code": pyotp.TOTP(secret).at(clock())}
    assert attacker.post(right).status_code == 302
    assert _state(uid) == (0, None)


def test_the_per_address_limit_stays(limited, account):
    _uid, email, _secret = account
    client = limited.test_client()
    data = {"email": email, "password": "not the password!", "code": "123456"}
    codes = [client.post("/admin/login", data=data).status_code for _ in range(11)]
    assert codes == [400] * 10 + [429]


def test_guesses_for_unknown_addresses_touch_no_account(limited, clock, account):
    uid, _email, _secret = account
    attacker = Attacker(limited)
    for _ in range(BACKOFF.free_failures + 2):
        assert attacker.guess("nobody@example.org").status_code == 400
    assert _state(uid) == (0, None)


def test_the_delay_formula():
    assert [BACKOFF.delay(n) for n in range(1, 5)] == [None] * 4
    assert [BACKOFF.delay(n).total_seconds() for n in range(5, 16)] == [
        2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900,
    ]  # fmt: skip
    assert BACKOFF.delay(10**6).total_seconds() == 900  # no overflow, however many


@pytest.mark.own_database  # threads, each with a connection of its own
def test_concurrent_attempts_at_the_end_of_a_delay_get_one_try(app, clock):
    """Many attempts sent at once (from many addresses) are counted one after the other."""
    with db.transaction() as s:
        user, _secret = make_staff(s, "admin", clock())
        user.failed_logins = BACKOFF.free_failures - 1
        uid, email = user.id, user.email
    sessionmaker = app.extensions["db"]["sessionmaker"]
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def attempt() -> None:
        session = sessionmaker()
        try:
            barrier.wait()
            claim_login_attempt(session, email, "not the password!", clock(), BACKOFF)
            session.commit()
            outcomes.append("claimed")
        except LoginError:
            session.rollback()
            outcomes.append("throttled")
        finally:
            session.close()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["claimed"] + ["throttled"] * 5
    with sessionmaker() as session:
        assert session.scalar(select(User.failed_logins).where(User.id == uid)) == 5
