"""Due-job computation, each job's side effect, catch-up and idempotency, on both databases."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.scheduler.conftest import (
    DURING_NOMINATION,
    NOMINATION_CLOSES,
    REVIEW,
    VOTING_CLOSES,
    VOTING_OPENS,
    add_committee,
    make_election,
    publish,
)
from voting.ballot.models import BoardSeal, RollFreeze, VoterLink
from voting.db import db
from voting.elections.models import Election
from voting.log.models import AuditEntry, Checkpoint
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.scheduler.jobs import JUST_AFTER, Status, plan
from voting.scheduler.models import JobRun
from voting.scheduler.services import run_due, run_one

NO_GRACE = {"SCHEDULER_CLOSE_GRACE_SECONDS": 0}


def _setup(clock, published=True, **kw):
    clock.set(DURING_NOMINATION)
    with db.transaction() as s:
        election = make_election(s, clock(), **kw)
        staff = add_committee(s, clock())
        if published:
            publish(s, election, clock())
        slug = election.slug
    return slug, staff


def _runs(slug):
    election = db.session.scalar(select(Election).where(Election.slug == slug))
    rows = db.session.scalars(select(JobRun).where(JobRun.election_id == election.id)).all()
    return {r.job: r for r in rows}


def _events(slug, event_type):
    rows = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.log == slug, AuditEntry.type == event_type)
        .order_by(AuditEntry.seq)
    )
    return [json.loads(r.body)["data"] for r in rows]


def _run(app, clock, **config):
    outcomes = run_due({**app.config, **NO_GRACE, **config}, clock)
    db.session.rollback()
    return {o.job: o for o in outcomes}


def test_plan_puts_close_jobs_just_after_the_inclusive_close(db_session, clock):
    election = make_election(db_session, DURING_NOMINATION, reminders='["3d", "36h"]')
    assert election.reminder_hours == [72, 36]
    # 20 days before the close is before voting opens (the file refuses that, but a later
    # change of voting_opens can bring it about): not planned.
    election.reminder_hours = [480, 72, 36]
    jobs = plan(election, timedelta(seconds=60))
    assert [(j.name, j.due) for j in jobs] == [
        ("nomination_closes", NOMINATION_CLOSES + JUST_AFTER),
        ("voting_opens", VOTING_OPENS),
        ("reminder-72h", VOTING_CLOSES - timedelta(hours=72)),
        ("reminder-36h", VOTING_CLOSES - timedelta(hours=36)),
        ("voting_closes", VOTING_CLOSES + JUST_AFTER + timedelta(seconds=60)),
    ]
    # Without grace, each close job falls the second the phase the clock gives has changed.
    for job in plan(election):
        if job.name.endswith("closes"):
            assert election.phase(job.due) != election.phase(job.due - JUST_AFTER)


def test_each_job_runs_on_time_once(app, clock):
    slug, staff = _setup(clock)
    assert _run(app, clock) == {}  # nothing due during nominations

    clock.set(NOMINATION_CLOSES + JUST_AFTER)
    done = _run(app, clock)
    assert list(done) == ["nomination_closes"]
    assert done["nomination_closes"].status is Status.DONE
    assert not done["nomination_closes"].late
    summaries = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "committee_summary")
    ).all()
    assert sorted(m.to_addr for m in summaries) == sorted(staff[:2])  # not the auditor
    body = message_body(summaries[0])
    assert "Södermalm (SODERMALM): nomineringar 4, accepterade av den nominerade 2" in body
    assert "Bromma (BROMMA): nominations 2, accepted by the nominee 2" in body
    assert "Efternamn" not in body
    assert "m1@example.org" not in body
    db.session.rollback()

    clock.set(REVIEW)
    assert _run(app, clock) == {}

    clock.set(VOTING_OPENS)
    done = _run(app, clock)
    assert done["voting_opens"].status is Status.DONE
    election = db.session.scalar(select(Election).where(Election.slug == slug))
    assert db.session.get(RollFreeze, election.id) is not None
    assert db.session.scalar(select(func.count()).select_from(VoterLink)) == 6
    db.session.rollback()

    for hours in (72, 24):
        clock.set(VOTING_CLOSES - timedelta(hours=hours) + timedelta(seconds=5))
        done = _run(app, clock)
        assert list(done) == [f"reminder-{hours}h"]
        assert done[f"reminder-{hours}h"].status is Status.DONE
    assert [e["count"] for e in _events(slug, "links.reminded")] == [6, 6]

    clock.set(VOTING_CLOSES + JUST_AFTER)
    done = _run(app, clock)
    assert done["voting_closes"].status is Status.DONE
    election = db.session.scalar(select(Election).where(Election.slug == slug))
    assert db.session.get(BoardSeal, election.id) is not None
    # The seal's checkpoint covers the log up to the seal, the job_ran event included.
    head = db.session.scalar(select(func.max(Checkpoint.size)).where(Checkpoint.log == slug))
    assert head == db.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.log == slug)
    )

    ran = _events(slug, "scheduler.job_ran")
    assert [e["job"] for e in ran] == [
        "nomination_closes",
        "voting_opens",
        "reminder-72h",
        "reminder-24h",
        "voting_closes",
    ]
    assert all(e["late"] is False for e in ran)
    assert set(_runs(slug)) == {e["job"] for e in ran}

    # Running everything again, later, changes nothing.
    db.session.rollback()
    clock.set(VOTING_CLOSES + timedelta(days=3))
    assert _run(app, clock) == {}
    assert len(_events(slug, "scheduler.job_ran")) == 5
    [sealed] = _events(slug, "board.sealed")
    # What the scheduler does on its own is logged as its own, not as anyone's.
    assert sealed["by"] == "scheduler"
    assert {e["by"] for e in _events(slug, "links.sent") + _events(slug, "links.reminded")} == {
        "scheduler"
    }


def test_catch_up_after_downtime_records_late_runs(app, clock):
    slug, _staff = _setup(clock)
    clock.set(VOTING_CLOSES + timedelta(hours=2))
    done = _run(app, clock)
    assert {k: (o.status, o.late) for k, o in done.items()} == {
        "nomination_closes": (Status.SKIPPED, True),
        "voting_opens": (Status.SKIPPED, True),
        "reminder-72h": (Status.SKIPPED, True),
        "reminder-24h": (Status.SKIPPED, True),
        "voting_closes": (Status.DONE, True),
    }
    ran = _events(slug, "scheduler.job_ran")
    assert all(e["late"] is True for e in ran)
    assert {e["job"]: e.get("skipped") for e in ran}["voting_opens"] == "voting has closed"
    assert len(_events(slug, "board.sealed")) == 1
    assert _events(slug, "links.sent") == []  # no links mailed after the close
    summaries = select(func.count()).select_from(OutboxMessage)
    assert db.session.scalar(summaries.where(OutboxMessage.kind == "committee_summary")) == 0
    runs = _runs(slug)
    assert runs["voting_closes"].late is True
    assert runs["voting_closes"].due_at == VOTING_CLOSES + JUST_AFTER


def test_several_due_reminders_send_one_mail(app, clock):
    slug, _staff = _setup(clock)
    clock.set(VOTING_OPENS + timedelta(minutes=1))
    _run(app, clock)
    clock.set(VOTING_CLOSES - timedelta(hours=10))  # the scheduler was down for both reminders
    done = _run(app, clock)
    assert done["reminder-72h"].status is Status.SKIPPED
    assert "superseded by reminder-24h" in done["reminder-72h"].detail
    assert done["reminder-24h"].status is Status.DONE
    assert done["reminder-24h"].late
    assert len(_events(slug, "links.reminded")) == 1


def test_links_wait_for_published_candidates_and_then_catch_up(app, clock):
    slug, _staff = _setup(clock, published=False)
    clock.set(VOTING_OPENS + timedelta(seconds=2))
    done = _run(app, clock)
    assert done["voting_opens"].status is Status.BLOCKED
    assert done["voting_opens"].detail == "the candidate lists are not published"
    assert "voting_opens" not in _runs(slug)
    assert _events(slug, "scheduler.job_ran")[-1]["job"] == "nomination_closes"
    db.session.rollback()

    clock.set(VOTING_OPENS + timedelta(hours=3))
    with db.transaction() as s:
        publish(s, s.scalar(select(Election).where(Election.slug == slug)), clock())
    done = _run(app, clock)
    assert done["voting_opens"].status is Status.DONE
    assert done["voting_opens"].late
    assert _events(slug, "links.sent") == [{"count": 6, "no_vote_notices": 0, "by": "scheduler"}]


def test_a_manual_seal_before_the_job_is_not_repeated(app, clock):
    from voting.lifecycle.seal import seal_board

    slug, _staff = _setup(clock)
    clock.set(VOTING_CLOSES + timedelta(minutes=5))
    with db.transaction() as s:
        seal_board(s, s.scalar(select(Election).where(Election.slug == slug)), clock(), by="cli")
    done = _run(app, clock)
    assert done["voting_closes"].status is Status.DONE
    assert done["voting_closes"].detail == "the board was already sealed"
    assert len(_events(slug, "board.sealed")) == 1


def test_a_failing_side_effect_leaves_no_job_run(app, clock, monkeypatch):
    import voting.scheduler.jobs as jobs

    slug, _staff = _setup(clock)
    clock.set(NOMINATION_CLOSES + timedelta(minutes=1))

    def boom(*_args, **_kw):
        raise RuntimeError("mail queue down")

    monkeypatch.setattr(jobs, "send_nomination_summary", boom)
    done = _run(app, clock)
    assert done["nomination_closes"].status is Status.FAILED
    assert _runs(slug) == {}
    assert _events(slug, "scheduler.job_ran") == []
    monkeypatch.undo()
    done = _run(app, clock)
    assert done["nomination_closes"].status is Status.DONE


def test_the_same_job_run_twice_acts_once(app, clock):
    slug, _staff = _setup(clock)
    clock.set(VOTING_CLOSES + JUST_AFTER)
    election_id = db.session.scalar(select(Election.id).where(Election.slug == slug))
    db.session.rollback()
    election = db.session.get(Election, election_id)
    job = next(j for j in plan(election) if j.name == "voting_closes")
    db.session.rollback()
    first = run_one(election_id, job, clock, {**app.config, **NO_GRACE})
    second = run_one(election_id, job, clock, {**app.config, **NO_GRACE})
    assert (first.status, second.status) == (Status.DONE, Status.ALREADY)
    assert len(_events(slug, "board.sealed")) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.own_database  # threads, each with a connection of its own
def test_concurrent_runs_of_one_job_seal_once_on_postgresql(app, clock):
    """Without the runner lock, the job_run row alone keeps two racing runs to one seal."""
    slug, _staff = _setup(clock)
    clock.set(VOTING_CLOSES + JUST_AFTER)
    election_id = db.session.scalar(select(Election.id).where(Election.slug == slug))
    job = next(j for j in plan(db.session.get(Election, election_id)) if j.name == "voting_closes")
    db.session.rollback()
    barrier = threading.Barrier(4)
    results = []

    def worker():
        with app.app_context():
            barrier.wait(10)
            results.append(run_one(election_id, job, clock, {**app.config, **NO_GRACE}).status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == sorted([Status.DONE] + [Status.ALREADY] * 3)
    assert len(_events(slug, "board.sealed")) == 1
    assert db.session.scalar(select(func.count()).select_from(BoardSeal)) == 1


def test_hourly_checkpoint_only_when_the_log_grew_in_an_open_window(app, clock):
    from voting.log.services import append
    from voting.scheduler.services import checkpoint_open_windows

    slug, _staff = _setup(clock)
    clock.set(DURING_NOMINATION + timedelta(hours=1))
    assert checkpoint_open_windows(clock) == [slug]
    assert checkpoint_open_windows(clock) == []  # nothing new
    with db.transaction() as s:
        append(s, slug, "test.event", {"n": 1}, clock())
    assert checkpoint_open_windows(clock) == [slug]
    clock.set(REVIEW)  # between the windows: no hourly checkpoints
    with db.transaction() as s:
        append(s, slug, "test.event", {"n": 2}, clock())
    assert checkpoint_open_windows(clock) == []
    reasons = db.session.scalars(select(Checkpoint.reason).where(Checkpoint.log == slug)).all()
    assert reasons.count("scheduler.hourly") == 2
