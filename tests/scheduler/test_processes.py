"""Real ``voting scheduler`` processes: exactly one acts, and a kill around the close seals once."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from tests.scheduler.conftest import (
    SchedulerProcess,
    make_election,
    publish,
    scheduler_env,
    seconds,
    utc_now,
)
from voting.ballot.models import BoardSeal
from voting.db import db
from voting.elections.models import Election
from voting.log.models import AuditEntry
from voting.scheduler.models import JobRun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), pytest.mark.own_database]


def _count(model, *where):
    value = db.session.scalar(select(func.count()).select_from(model).where(*where))
    db.session.rollback()
    return value


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_once_runs_the_due_jobs_and_exits(app, clock, tmp_path):
    now = utc_now()
    with db.transaction() as s:
        make_election(
            s,
            now - seconds(6 * 86400),
            times=(
                now - seconds(6 * 86400),
                now - seconds(5 * 86400),
                now - seconds(4 * 86400),
                now - seconds(60),
            ),
        )
    proc = SchedulerProcess(scheduler_env(app), tmp_path / "once.log", "--once")
    assert proc.process.wait(120) == 0, proc.output
    proc.handle.close()
    # The real clock is past every job: all ran late, the links too late to send.
    assert "val-2027 nomination_closes" in proc.output
    assert "voting_closes" in proc.output
    assert "board sealed" in proc.output
    assert _count(JobRun) == 5
    again = SchedulerProcess(scheduler_env(app), tmp_path / "again.log", "--once")
    assert again.process.wait(120) == 0, again.output
    again.handle.close()
    assert _count(JobRun) == 5
    assert _count(AuditEntry, AuditEntry.type == "board.sealed") == 1


def test_exactly_one_of_two_schedulers_acts(app, clock, tmp_path):
    """The second waits on the advisory or file lock, says so, and takes over if the first dies."""
    now = utc_now()
    with db.transaction() as s:
        election = make_election(
            s,
            now - seconds(3600),
            times=(
                now - seconds(7200),
                now + seconds(3600),
                now + seconds(7200),
                now + seconds(9000),
            ),
        )
        slug = election.slug
    env = scheduler_env(app)
    first = SchedulerProcess(env, tmp_path / "first.log")
    second = None
    try:
        first.wait_for("; acting")
        second = SchedulerProcess(env, tmp_path / "second.log")
        second.wait_for("another scheduler holds the")
        once = SchedulerProcess(env, tmp_path / "once.log", "--once")
        assert once.process.wait(120) == 0, once.output
        once.handle.close()
        assert "another scheduler holds the" in once.output
        # Bring the nomination close to now: the acting one must pick it up by its resync.
        with db.transaction() as s:
            e = s.scalar(select(Election).where(Election.slug == slug))
            e.nomination_closes = utc_now() - seconds(5)
        _wait(lambda: _count(JobRun) == 1, 60, "the nomination_closes job")
        first.wait_for("nomination_closes")
        time.sleep(2)  # give a wrongly acting second runner time to show itself
        assert "nomination_closes" not in second.output
        assert "; acting" not in second.output
        first.kill()
        second.wait_for("; acting", timeout=60)
        with db.transaction() as s:
            e = s.scalar(select(Election).where(Election.slug == slug))
            publish(s, e, utc_now())
            e.voting_opens = utc_now() - seconds(1)
        _wait(lambda: _count(JobRun) == 2, 60, "the voting_opens job")
        second.wait_for("voting_opens")
        assert second.stop() == 0
        assert "scheduler stopped" in second.output
    finally:
        first.kill()
        if second is not None:
            second.stop()
    assert _count(JobRun) == 2
    assert _count(AuditEntry, AuditEntry.type == "scheduler.job_ran") == 2


def _blocked_on_a_lock(engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    return bool(waiting)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("kill_at", [-1.0, 0.0, 1.5, "mid-transaction"])
def test_scheduler_killed_around_the_close_seals_once(app, clock, engine, tmp_path, kill_at):
    """SIGKILL before, at, inside or after the close's job; the restart seals exactly once."""
    now = utc_now()
    with db.transaction() as s:
        election = make_election(
            s,
            now - seconds(7200),
            times=(
                now - seconds(9000),
                now - seconds(7200),
                now - seconds(3600),
                now + seconds(3600),
            ),
        )
        publish(s, election, now)
        slug = election.slug
    env = scheduler_env(app)
    first = SchedulerProcess(env, tmp_path / "first.log")
    blocker = None
    try:
        first.wait_for("voting_opens")  # caught up on the past jobs: it is up and acting
        closes = utc_now() + seconds(3)
        with db.transaction() as s:
            s.scalar(select(Election).where(Election.slug == slug)).voting_closes = closes
        due = closes + seconds(1)  # the close is inclusive; the job runs the second after
        if kill_at == "mid-transaction":
            # Hold the log's head: the job inserts its job_run row, then waits on the log,
            # its transaction open, and dies there.
            blocker = engine.connect()
            blocker.begin()
            blocker.execute(
                sa.text("SELECT size FROM audit_head WHERE log = :log FOR UPDATE"), {"log": slug}
            )
            _wait(lambda: _blocked_on_a_lock(engine), 60, "the job to wait inside its transaction")
        else:
            time.sleep(max(0.0, (due - utc_now()).total_seconds() + kill_at))
        first.kill()
    finally:
        first.kill()
        if blocker is not None:
            blocker.rollback()
            blocker.close()
    second = SchedulerProcess(env, tmp_path / "second.log")
    try:
        second.wait_for("; acting")
        _wait(lambda: _count(BoardSeal) == 1, 90, "the seal after the restart")
        time.sleep(2.5)  # two more resyncs: a second seal would show up now
    finally:
        assert second.stop() == 0
    output = first.output + second.output
    assert _count(BoardSeal) == 1, output
    assert _count(AuditEntry, AuditEntry.log == slug, AuditEntry.type == "board.sealed") == 1
    assert _count(JobRun, JobRun.job == "voting_closes") == 1
    rows = db.session.scalars(
        select(AuditEntry.body).where(
            AuditEntry.log == slug, AuditEntry.type == "scheduler.job_ran"
        )
    ).all()
    db.session.rollback()
    assert len([b for b in rows if '"voting_closes"' in b]) == 1
    if kill_at in (-1.0, "mid-transaction"):
        assert "board sealed" in second.output, output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_runner_whose_lock_connection_dies_stops_and_takes_it_again(app, engine, tmp_path):
    """A database restart drops the advisory lock with its session: stop acting, then retake."""
    proc = SchedulerProcess(scheduler_env(app), tmp_path / "runner.log")
    try:
        proc.wait_for("; acting")
        with engine.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar()
        assert killed == 1
        proc.wait_for("lost the scheduler lock")
        _wait(lambda: proc.output.count("; acting") == 2, 60, "the lock taken again")
    finally:
        assert proc.stop() == 0
