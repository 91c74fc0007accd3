"""The runner's wake-ups follow schedule changes; the locks admit one holder at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from tests.scheduler.conftest import make_election, seconds, utc_now
from voting.db import db
from voting.elections.models import Election
from voting.lifecycle.schedule import reschedule, set_reminders
from voting.scheduler.jobs import JUST_AFTER
from voting.scheduler.locks import LockError, runner_lock
from voting.scheduler.runner import WAKE_PREFIX, Runner


@pytest.fixture
def paused_scheduler():
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)
    yield scheduler
    scheduler.shutdown(wait=False)


def _wakes(scheduler):
    return {
        job.name: job.next_run_time
        for job in scheduler.get_jobs()
        if job.id.startswith(WAKE_PREFIX)
    }


def test_resync_sets_moves_and_drops_wake_ups(app, clock, paused_scheduler):
    now = utc_now()
    clock.set(now)
    times = (
        now - seconds(3600),
        now + timedelta(days=1),
        now + timedelta(days=2),
        now + timedelta(days=9),
    )
    with db.transaction() as s:
        slug = make_election(s, now, times=times, members=False).slug
    lines = []
    runner = Runner(app, runner_lock(app.config["DATABASE_URL"]), lines.append)
    runner.scheduler = paused_scheduler
    runner.resync()
    grace = timedelta(seconds=60)
    assert _wakes(paused_scheduler) == {
        "nomination_closes": times[1] + JUST_AFTER,
        "voting_opens": times[2],
        "reminder-72h": times[3] - timedelta(hours=72),
        "reminder-24h": times[3] - timedelta(hours=24),
        "voting_closes": times[3] + JUST_AFTER + grace,
    }

    new_close = now + timedelta(days=5)
    with db.transaction() as s:
        election = s.scalar(select(Election).where(Election.slug == slug))
        reschedule(s, election, {"voting_closes": new_close}, now, by="cli")
        set_reminders(s, election, ["2d"], now, by="cli")
    runner.resync()
    assert _wakes(paused_scheduler) == {
        "nomination_closes": times[1] + JUST_AFTER,
        "voting_opens": times[2],
        "reminder-48h": new_close - timedelta(hours=48),
        "voting_closes": new_close + JUST_AFTER + grace,
    }
    assert lines == []  # nothing was due, nothing was said


def test_locks_admit_one_holder(app):
    url = app.config["DATABASE_URL"]
    first, second = runner_lock(url), runner_lock(url)
    try:
        assert first.acquire()
        assert first.acquire()  # holding it already
        assert first.held()
        assert not second.acquire()
        assert not second.held()
        first.release()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


def test_no_lock_for_an_in_memory_database():
    with pytest.raises(LockError, match="in-memory"):
        runner_lock("sqlite:///:memory:")
