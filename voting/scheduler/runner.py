"""The scheduler process: take the one-runner lock, then let APScheduler wake the jobs.

APScheduler holds only wake-up times, in memory. What has run lives in ``job_run``, so every
wake-up recomputes from the database what is due: a stale or duplicated wake-up does nothing,
and a restart catches up on whatever came due while nothing ran.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from flask import Flask

from voting.scheduler.jobs import Outcome, Status, setting
from voting.scheduler.locks import RunnerLock
from voting.scheduler.services import checkpoint_open_windows, run_due, upcoming

Echo = Callable[[str], None]
WAKE_PREFIX = "wake:"


class Stop(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float) -> bool: ...


class Runner:
    """Runs due jobs while holding the lock; waits, without acting, while another holds it."""

    def __init__(self, app: Flask, lock: RunnerLock, echo: Echo) -> None:
        # Every outcome is reported here; APScheduler's own notes (a resync skipped because the
        # one before still runs) are noise in the process log.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self.app = app
        self.lock = lock
        self.echo = echo
        self.clock = app.config["CLOCK"]
        self.said_blocked: set[tuple[str, str, str]] = set()
        self.scheduler: BackgroundScheduler | None = None
        # Why: APScheduler's shutdown(wait=True) holds its job-store lock while it waits for the
        # running job, so a resync that then calls get_jobs() or add_job() waits for shutdown
        # and shutdown for it, forever (seen in testing). A resync changes wake-ups only under
        # this lock and only while not stopping; act() sets ``stopping`` under it first.
        self._wakeups = threading.Lock()
        self._stopping = False

    def say(self, message: str) -> None:
        self.echo(f"{datetime.now(UTC).isoformat(timespec='seconds')} {message}")

    # --- One pass, also the whole of ``--once`` ------------------------------------------

    def report(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.status is Status.ALREADY:
                continue
            if outcome.status is Status.BLOCKED:
                # Said once per reason: a blocked job is tried at every resync.
                key = (outcome.slug, outcome.job, outcome.detail)
                if key in self.said_blocked:
                    continue
                self.said_blocked.add(key)
            self.say(str(outcome))

    def run_due(self, slug: str | None = None) -> list[Outcome]:
        with self.app.app_context():
            outcomes = run_due(self.app.config, self.clock, slug)
        self.report(outcomes)
        return outcomes

    def checkpoints(self) -> list[str]:
        with self.app.app_context():
            written = checkpoint_open_windows(self.clock)
        for slug in written:
            self.say(f"{slug} checkpoint written (the log grew while a window is open)")
        return written

    # --- The long-running process ----------------------------------------------------------

    def _wake(self, slug: str) -> None:
        try:
            self.run_due(slug)
        except Exception as exc:  # noqa: BLE001 - the next resync tries again
            self.say(f"wake-up failed: {exc.__class__.__name__}")

    def resync(self) -> None:
        """Catch up on what is due, then (re)set a wake-up at every future job's time."""
        try:
            self.run_due()
            with self.app.app_context():
                wanted = upcoming(self.app.config)
        except Exception as exc:  # noqa: BLE001 - the database may be restarting
            self.say(f"resync failed, trying again later: {exc.__class__.__name__}")
            return
        with self._wakeups:
            scheduler = self.scheduler
            if scheduler is None or self._stopping:
                return
            self._set_wakeups(scheduler, wanted)

    def _set_wakeups(
        self, scheduler: BackgroundScheduler, wanted: dict[tuple[str, str], datetime]
    ) -> None:
        now = datetime.now(UTC)
        ids = set()
        for (slug, job), due in wanted.items():
            if due <= now:
                continue  # due but blocked: the next resync tries again
            job_id = f"{WAKE_PREFIX}{slug}:{job}"
            ids.add(job_id)
            current = scheduler.get_job(job_id)
            if current is not None and current.next_run_time == due:
                continue
            scheduler.add_job(
                self._wake,
                DateTrigger(run_date=due, timezone=UTC),
                args=[slug],
                id=job_id,
                name=job,
                replace_existing=True,
            )
        for job in scheduler.get_jobs():
            if job.id.startswith(WAKE_PREFIX) and job.id not in ids:
                with contextlib.suppress(JobLookupError):
                    job.remove()  # the schedule changed, or the job ran

    def act(self, stop: Stop) -> None:
        """Run the jobs until ``stop`` is set or the lock is lost."""
        config = self.app.config
        self.scheduler = scheduler = BackgroundScheduler(
            timezone=UTC,
            # One worker: this process never runs two jobs at the same time.
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = datetime.now(UTC)
        scheduler.add_job(
            self.resync,
            "interval",
            seconds=setting(config, "SCHEDULER_RESYNC_SECONDS"),
            id="resync",
            next_run_time=now,
        )
        scheduler.add_job(
            self._checkpoints,
            "interval",
            minutes=setting(config, "SCHEDULER_CHECKPOINT_MINUTES"),
            id="checkpoint",
            # Also at start: a runner restarted more often than hourly must still checkpoint.
            next_run_time=now,
        )
        scheduler.start()
        try:
            while not stop.wait(setting(config, "SCHEDULER_LOCK_RETRY_SECONDS")):
                if not self.lock.held():
                    self.say("lost the scheduler lock; stopping work until it is taken again")
                    break
        finally:
            with self._wakeups:
                self._stopping = True
            scheduler.shutdown(wait=True)  # finish the job in hand: its transaction commits
            self.scheduler = None
            self._stopping = False

    def _checkpoints(self) -> None:
        try:
            self.checkpoints()
        except Exception as exc:  # noqa: BLE001 - tried again at the next interval
            self.say(f"checkpoint failed: {exc.__class__.__name__}")

    def run(self, stop: Stop) -> None:
        """Wait for the lock (saying so), act while it holds, until ``stop`` is set."""
        retry = setting(self.app.config, "SCHEDULER_LOCK_RETRY_SECONDS")
        waiting = False
        while not stop.is_set():
            try:
                taken = self.lock.acquire()
            except Exception as exc:  # noqa: BLE001 - the database may be away: keep trying
                self.say(f"cannot take the lock yet: {exc.__class__.__name__}")
                taken = False
            if not taken:
                if not waiting:
                    self.say(f"another scheduler holds the {self.lock.description}; waiting")
                    waiting = True
                stop.wait(retry)
                continue
            waiting = False
            self.say(f"holding the {self.lock.description}; acting")
            try:
                self.act(stop)
            finally:
                self.lock.release()


def run_once(app: Flask, lock: RunnerLock, echo: Echo) -> dict[str, Any]:
    """Run every due job and the open windows' checkpoints now, then return (for cron, tests)."""
    runner = Runner(app, lock, echo)
    if not lock.acquire():
        runner.say(f"another scheduler holds the {lock.description}; it does the due jobs")
        return {"acted": False, "outcomes": []}
    try:
        outcomes = runner.run_due()
        runner.checkpoints()
    finally:
        lock.release()
    return {"acted": True, "outcomes": outcomes}
