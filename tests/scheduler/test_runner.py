"""The runner's wake-ups follow schedule changes; the locks admit one holder at a time."""

from __future__ import annotations

import threading
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


class _HeldLock:
    description = "test lock"

    def held(self) -> bool:
        return True


class _Stop:
    def __init__(self) -> None:
        self.event = threading.Event()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)


def test_stopping_while_a_resync_runs_does_not_hang(app, monkeypatch):
    """A resync still running when the runner stops must not wait on APScheduler's shutdown,
    which waits on it: the resync reaches its wake-ups only after the shutdown began here."""
    import voting.scheduler.runner as runner_module

    resync_started, shutdown_started = threading.Event(), threading.Event()

    def slow_upcoming(config):
        resync_started.set()
        shutdown_started.wait(10)
        return {("val", "voting_closes"): utc_now() + timedelta(days=1)}

    real_shutdown = BackgroundScheduler.shutdown

    def shutdown(self, wait=True):
        shutdown_started.set()
        return real_shutdown(self, wait)

    monkeypatch.setattr(runner_module, "run_due", lambda config, clock, slug=None: [])
    monkeypatch.setattr(runner_module, "checkpoint_open_windows", lambda clock: [])
    monkeypatch.setattr(runner_module, "upcoming", slow_upcoming)
    monkeypatch.setattr(BackgroundScheduler, "shutdown", shutdown)
    runner = Runner(app, _HeldLock(), lambda line: None)
    stop = _Stop()
    acting = threading.Thread(target=runner.act, args=(stop,), daemon=True)
    acting.start()
    assert resync_started.wait(10)
    stop.event.set()
    acting.join(20)
    assert not acting.is_alive(), "the runner hung in its shutdown"
    assert runner.scheduler is None
