"""Any reminder configuration, any order and duplication of runs: each job runs exactly once."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.scheduler.conftest import (
    DURING_NOMINATION,
    VOTING_CLOSES,
    VOTING_OPENS,
    make_election,
    publish,
)
from voting.ballot.models import BoardSeal
from voting.db import db
from voting.elections.models import Election
from voting.log.models import AuditEntry
from voting.scheduler.jobs import Status, plan
from voting.scheduler.models import JobRun
from voting.scheduler.services import run_due, run_one

DB_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WINDOW_HOURS = int((VOTING_CLOSES - VOTING_OPENS).total_seconds() // 3600)  # 335
_slugs = itertools.count(1)

# Moments to run at, in hours after voting opens: before, inside and after the voting window.
ticks = st.lists(st.tuples(st.integers(-24 * 50, WINDOW_HOURS + 48), st.integers(1, 3)), max_size=8)


@DB_SETTINGS
@given(
    reminders=st.lists(st.integers(1, WINDOW_HOURS - 1), unique=True, max_size=4),
    ticks=ticks,
    direct=st.lists(st.integers(0, 10), max_size=4),
    published=st.booleans(),
)
def test_every_job_runs_exactly_once(app, clock, reminders, ticks, direct, published):
    config = {**app.config, "SCHEDULER_CLOSE_GRACE_SECONDS": 0}
    slug = f"prop-{next(_slugs)}"
    clock.set(DURING_NOMINATION)
    with db.transaction() as s:
        election = make_election(s, clock(), slug=slug, reminders=json.dumps(reminders))
        if published:
            publish(s, election, clock())
        election_id = election.id
        jobs = plan(election)
    assert len(jobs) == 3 + len(reminders)

    runs: dict[str, list[Status]] = {}
    # Wake-ups at random moments, some duplicated, and stray direct runs of single jobs
    # (a stale wake-up, a second runner) in between; the clock may even step backwards.
    for index, (hours, times) in enumerate(ticks):
        clock.set(VOTING_OPENS + timedelta(hours=hours))
        for _ in range(times):
            for outcome in run_due(config, clock, slug):
                runs.setdefault(outcome.job, []).append(outcome.status)
        if index < len(direct) and jobs:
            job = jobs[direct[index] % len(jobs)]
            outcome = run_one(election_id, job, clock, config)
            runs.setdefault(job.name, []).append(outcome.status)
    # Finally, long after the close, twice.
    clock.set(VOTING_CLOSES + timedelta(days=30))
    for _ in range(2):
        for outcome in run_due(config, clock, slug):
            runs.setdefault(outcome.job, []).append(outcome.status)

    recorded = db.session.scalars(select(JobRun.job).where(JobRun.election_id == election_id))
    assert sorted(recorded) == sorted(j.name for j in jobs)
    events = [
        json.loads(body)["data"]["job"]
        for body in db.session.scalars(
            select(AuditEntry.body).where(
                AuditEntry.log == slug, AuditEntry.type == "scheduler.job_ran"
            )
        )
    ]
    assert sorted(events) == sorted(j.name for j in jobs)
    for name, statuses in runs.items():
        acted = [s for s in statuses if s in (Status.DONE, Status.SKIPPED)]
        assert len(acted) <= 1, (name, statuses)
    election = db.session.get(Election, election_id)
    assert db.session.get(BoardSeal, election.id) is not None
    seals = db.session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.log == slug, AuditEntry.type == "board.sealed")
    )
    assert seals == 1
    links_sent = db.session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.log == slug, AuditEntry.type == "links.sent")
    )
    assert links_sent <= 1
    reminded = db.session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.log == slug, AuditEntry.type == "links.reminded")
    )
    assert reminded <= len(reminders)
    db.session.rollback()
