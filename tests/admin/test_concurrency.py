"""Races, with real threads and one connection each: the database decides, once."""

from __future__ import annotations

import threading

import pyotp
import pytest

from tests.admin.conftest import close_nominations
from tests.factories import PASSWORD, make_staff
from voting.admin.services import authenticate
from voting.db import db
from voting.elections.services import get_election
from voting.errors import ServiceError
from voting.lifecycle.candidates import publish_candidates
from voting.log.services import entries
from voting.nominations import review
from voting.nominations.models import Nomination

pytestmark = pytest.mark.own_database  # threads, each with a connection of its own


def _race(app, work, n=2):
    """Run ``work(session)`` in ``n`` threads at once; return the results and errors."""
    sessions = app.extensions["db"]["sessionmaker"]
    barrier = threading.Barrier(n)
    outcomes: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        with app.app_context(), sessions() as session:
            barrier.wait()
            try:
                result = work(session)
                session.commit()
            except ServiceError as exc:
                session.rollback()
                result = exc
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == n
    return outcomes


def test_two_publications_at_once_make_one_event(app, seed, clock):
    with db.transaction() as s:
        review.approve(s, s.get(Nomination, seed.awaiting), None, clock())
    now = close_nominations(clock)

    def publish(session):
        return publish_candidates(
            session, get_election(session, seed.slug), now, confirm_no_vote=True
        )

    outcomes = _race(app, publish)
    assert sum(isinstance(o, list) for o in outcomes) == 1
    assert sum(isinstance(o, ServiceError) for o in outcomes) == 1
    db.session.expire_all()
    assert len(entries(db.session, seed.slug, "candidates.published")) == 1


def test_one_code_logs_in_once_even_at_the_same_moment(app, clock):
    with db.transaction() as s:
        user, secret = make_staff(s, "committee", clock())
        email = user.email
    now = clock()
    code = pyotp.TOTP(secret).at(now)

    outcomes = _race(app, lambda session: authenticate(session, email, PASSWORD, code, now).id)
    assert sorted(type(o).__name__ for o in outcomes) == ["LoginError", "int"]
    db.session.expire_all()
    assert len(entries(db.session, "register", "staff.login")) == 1
