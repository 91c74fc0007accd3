"""Run what is due: every election's pending jobs, each in a transaction of its own.

These need an app context (the checkpoint origin names BASE_URL's host, and the session is the
app context's); the runner pushes one for each run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from voting.db import db
from voting.elections.models import Election
from voting.errors import TransitionBlocked
from voting.scheduler.jobs import (
    REMINDER_PREFIX,
    DueJob,
    Outcome,
    Status,
    checkpoint_if_grew,
    jobs_run,
    pending,
    plan,
    run_job,
    setting,
    window_open,
)

Clock = Callable[[], datetime]


def close_grace(config: Mapping[str, Any]) -> timedelta:
    return timedelta(seconds=setting(config, "SCHEDULER_CLOSE_GRACE_SECONDS"))


def election_ids(slug: str | None = None) -> list[tuple[int, str]]:
    """(id, slug) of every election, or of the one with ``slug``."""
    query = select(Election.id, Election.slug).order_by(Election.id)
    if slug is not None:
        query = query.where(Election.slug == slug)
    with db.transaction() as session:
        return [(row.id, row.slug) for row in session.execute(query)]


def _error_text(exc: Exception) -> str:
    # Why so terse: a driver's message can quote the row it refused (an email, a name), and
    # this line goes to the process log.
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        first = str(orig or exc).splitlines()[0] if str(orig or exc) else ""
        return f"{exc.__class__.__name__}: {first[:200]}"
    return exc.__class__.__name__


def run_one(
    election_id: int,
    job: DueJob,
    clock: Clock,
    config: Mapping[str, Any],
    superseded_by: str | None = None,
) -> Outcome:
    """Run ``job`` in its own transaction; an error rolls back everything and is reported."""
    slug = "?"
    try:
        with db.transaction() as session:
            election = session.get(Election, election_id)
            if election is None:
                return Outcome(slug, job.name, job.due, Status.SKIPPED, "the election is gone")
            slug = election.slug
            return run_job(session, election, job, clock(), config, superseded_by)
    except TransitionBlocked as exc:
        return Outcome(slug, job.name, job.due, Status.BLOCKED, str(exc))
    except Exception as exc:  # noqa: BLE001 - reported, rolled back and retried at the next resync
        return Outcome(slug, job.name, job.due, Status.FAILED, _error_text(exc))


def run_due(config: Mapping[str, Any], clock: Clock, slug: str | None = None) -> list[Outcome]:
    """Run every job that is due and has not run, of every election (or of ``slug``)."""
    grace = close_grace(config)
    outcomes = []
    for election_id, _slug in election_ids(slug):
        with db.transaction() as session:
            election = session.get(Election, election_id)
            jobs = pending(session, election, clock(), grace) if election is not None else []
        reminders = [j.name for j in jobs if j.name.startswith(REMINDER_PREFIX)]
        latest = reminders[-1] if reminders else None
        for job in jobs:
            superseded = (
                latest if job.name.startswith(REMINDER_PREFIX) and job.name != latest else None
            )
            outcomes.append(run_one(election_id, job, clock, config, superseded))
    return outcomes


def upcoming(config: Mapping[str, Any]) -> dict[tuple[str, str], datetime]:
    """(election slug, job) -> due time of every job that has not run yet, due or not."""
    grace = close_grace(config)
    found = {}
    with db.transaction() as session:
        for election in session.scalars(select(Election).order_by(Election.id)):
            done = jobs_run(session, election)
            for job in plan(election, grace):
                if job.name not in done:
                    found[(election.slug, job.name)] = job.due
    return found


def checkpoint_open_windows(clock: Clock) -> list[str]:
    """Checkpoint each election whose nomination or voting window is open, if its log grew."""
    written = []
    for election_id, _slug in election_ids():
        with db.transaction() as session:
            election = session.get(Election, election_id)
            now = clock()
            if (
                election is not None
                and window_open(election, now)
                and checkpoint_if_grew(session, election, now)
            ):
                written.append(election.slug)
    return written
