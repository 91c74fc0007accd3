"""An election's timed side effects: when each job is due, and running each exactly once.

Time alone decides the phase (``Election.phase``); nothing here gates a request. A job only
does what the phase change asks for on the side: the committee's summary, the roll and the
links, reminders, the seal. Each run inserts its ``job_run`` row and its ``scheduler.job_ran``
audit event in the same transaction as the side effect, so a crash leaves both or neither,
and a second run (another runner, a retry, a restart) finds the row and does nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditlog.events import SCHEDULER_JOB_RAN
from voting.auth import Role
from voting.ballot import links
from voting.ballot.services import roll_frozen
from voting.ballot.unreachable import reach
from voting.db import insert_for
from voting.elections.models import Election
from voting.letters.services import issue_letters, letter_contact
from voting.lifecycle import Stage, stage
from voting.lifecycle.roll import freeze_roll, send_links
from voting.lifecycle.seal import seal_board
from voting.log.checkpoints import checkpoint_now
from voting.log.models import AuditHead, Checkpoint
from voting.log.services import SCHEDULER, append
from voting.mail.services import queue_mail
from voting.nominations.models import Nomination, NominationStatus
from voting.scheduler.models import JobRun
from voting.staff.models import User

# Settings (``VOTING_SCHEDULER_*`` in the environment); the values here are the defaults.
SETTINGS: dict[str, float] = {
    # How often the runner re-reads every election's schedule (and catches up on due jobs).
    "SCHEDULER_RESYNC_SECONDS": 30,
    # How often an open window's log is checkpointed (when it grew since the last checkpoint).
    "SCHEDULER_CHECKPOINT_MINUTES": 60,
    # How long after voting_closes the board is sealed: requests that began before the close
    # may still be committing a ballot, and the seal must include it.
    "SCHEDULER_CLOSE_GRACE_SECONDS": 60,
    # A job that runs more than this after its due time is recorded as late.
    "SCHEDULER_LATE_SECONDS": 60,
    # How often a waiting runner tries the lock again, and the acting one checks it still holds.
    "SCHEDULER_LOCK_RETRY_SECONDS": 5,
}

# The close times are inclusive, so a close job is due the second after.
JUST_AFTER = timedelta(seconds=1)

NOMINATION_CLOSES = "nomination_closes"
VOTING_OPENS = "voting_opens"
VOTING_CLOSES = "voting_closes"
REMINDER_PREFIX = "reminder-"


def setting(config: Mapping[str, Any], name: str) -> float:
    """A scheduler setting from the app config, else its default."""
    value = config.get(name)
    return float(SETTINGS[name] if value is None else value)


def reminder_job(hours: int) -> str:
    """The job name of the reminder ``hours`` before the close."""
    return f"{REMINDER_PREFIX}{hours}h"


@dataclass(frozen=True, order=True)
class DueJob:
    """One job of one election and the moment it is due."""

    due: datetime
    name: str


def plan(election: Election, close_grace: timedelta = timedelta(0)) -> list[DueJob]:
    """Every job of ``election`` with its due time, earliest first.

    A reminder that would fall at or before voting opens is left out: the links themselves
    go out then.
    """
    jobs = [
        DueJob(election.nomination_closes + JUST_AFTER, NOMINATION_CLOSES),
        DueJob(election.voting_opens, VOTING_OPENS),
        DueJob(election.voting_closes + JUST_AFTER + close_grace, VOTING_CLOSES),
    ]
    for hours in set(election.reminder_hours or []):
        due = election.voting_closes - timedelta(hours=hours)
        if due > election.voting_opens:
            jobs.append(DueJob(due, reminder_job(hours)))
    return sorted(jobs)


def jobs_run(session: Session, election: Election) -> set[str]:
    """The names of the jobs of ``election`` that have a job_run row."""
    return set(session.scalars(select(JobRun.job).where(JobRun.election_id == election.id)))


def pending(
    session: Session, election: Election, now: datetime, close_grace: timedelta
) -> list[DueJob]:
    """The jobs due at ``now`` that have not run, earliest first."""
    done = jobs_run(session, election)
    return [j for j in plan(election, close_grace) if j.due <= now and j.name not in done]


class Status(enum.StrEnum):
    DONE = "done"  # the side effect ran and the job is recorded
    SKIPPED = "skipped"  # nothing left to do (voting closed, superseded); recorded as run
    BLOCKED = "blocked"  # not possible yet (candidates not published); tried again later
    ALREADY = "already"  # another run recorded it first
    FAILED = "failed"  # an error; rolled back, tried again at the next resync


@dataclass(frozen=True)
class Outcome:
    slug: str
    job: str
    due: datetime
    status: Status
    detail: str = ""
    late: bool = False

    def __str__(self) -> str:
        late = ", late" if self.late else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.slug} {self.job} (due {self.due.isoformat()}{late}) {self.status}{detail}"


def _precheck(
    session: Session, election: Election, job: str, now: datetime, superseded_by: str | None
) -> tuple[Status | None, str]:
    """Whether ``job`` can run now: (None, "") to run, else SKIPPED or BLOCKED and why."""
    if (job == VOTING_OPENS or job.startswith(REMINDER_PREFIX)) and now > election.voting_closes:
        return Status.SKIPPED, "voting has closed"
    if job == NOMINATION_CLOSES and now >= election.voting_opens:
        # A summary for review is moot once voting is open (a first start long after, say).
        return Status.SKIPPED, "voting has opened"
    if job == VOTING_OPENS and election.candidates_published_at is None:
        return Status.BLOCKED, "the candidate lists are not published"
    if job.startswith(REMINDER_PREFIX):
        if superseded_by:
            # Why: after downtime several reminders can be due at once; one mail is enough.
            return Status.SKIPPED, f"superseded by {superseded_by}, due as well"
        if not roll_frozen(session, election):
            return Status.BLOCKED, "the roll is not frozen (no voting links were sent)"
        if not election.voting_open(now):
            return Status.BLOCKED, "voting is not open"
    if job == VOTING_CLOSES and not stage(session, election, now).reached(Stage.CLOSED):
        return Status.BLOCKED, "voting has not closed"
    return None, ""


def run_job(
    session: Session,
    election: Election,
    job: DueJob,
    now: datetime,
    config: Mapping[str, Any],
    superseded_by: str | None = None,
) -> Outcome:
    """Run one job once, in the caller's transaction (which must commit or roll back whole)."""
    if job.name in jobs_run(session, election):
        return Outcome(election.slug, job.name, job.due, Status.ALREADY)
    grace = timedelta(seconds=setting(config, "SCHEDULER_CLOSE_GRACE_SECONDS"))
    current = {j.name: j.due for j in plan(election, grace)}
    if current.get(job.name, now + JUST_AFTER) > now:
        # A stale wake-up: the schedule moved (or dropped the job) since it was planned.
        return Outcome(election.slug, job.name, job.due, Status.BLOCKED, "not due")
    job = DueJob(current[job.name], job.name)
    late = now - job.due > timedelta(seconds=setting(config, "SCHEDULER_LATE_SECONDS"))
    outcome = Outcome(election.slug, job.name, job.due, Status.ALREADY, late=late)
    status, detail = _precheck(session, election, job.name, now, superseded_by)
    if status is Status.BLOCKED:
        return Outcome(election.slug, job.name, job.due, status, detail, late)
    # Why insert first: on PostgreSQL a concurrent run of the same job waits here on the unique
    # index until this transaction ends, then finds the row and does nothing.
    inserted = session.execute(
        insert_for(session)(JobRun)
        .values(election_id=election.id, job=job.name, due_at=job.due, ran_at=now, late=late)
        .on_conflict_do_nothing(index_elements=["election_id", "job"])
        .returning(JobRun.id)
    ).scalar_one_or_none()
    if inserted is None:
        return outcome
    data: dict[str, Any] = {"job": job.name, "due": job.due.isoformat(), "late": late}
    if status is Status.SKIPPED:
        data["skipped"] = detail
    append(session, election.slug, SCHEDULER_JOB_RAN, data, now)
    if status is None:
        status, detail = Status.DONE, _side_effect(session, election, job.name, now, config)
    # A checkpoint at every phase change; it is a no-op when the side effect just wrote one.
    checkpoint_now(session, election.slug, now, f"scheduler.{job.name}")
    return Outcome(election.slug, job.name, job.due, status, detail, late)


def _side_effect(
    session: Session, election: Election, job: str, now: datetime, config: Mapping[str, Any]
) -> str:
    base_url = str(config["BASE_URL"])
    if job == NOMINATION_CLOSES:
        sent = send_nomination_summary(session, election, now)
        return f"summary queued to {sent} committee address(es)"
    if job == VOTING_OPENS:
        # Letters before links: a letter member then holds a live code, and send_links skips
        # whoever has one, so nobody on the letter channel is mailed a link as well.
        if not roll_frozen(session, election):
            freeze_roll(session, election, now, by=SCHEDULER)
        letters = issue_letters(
            session, election, now, base_url, letter_contact(config), by=SCHEDULER
        )
        count = send_links(session, election, now, base_url, by=SCHEDULER)
        # Counts and krets codes only: this line goes to the process log.
        return (
            f"{count} voting links queued; {letters.count} voting letters made; "
            f"{reach(session, election).summary()}"
        )
    if job.startswith(REMINDER_PREFIX):
        count = links.remind(session, election, now, base_url, by=SCHEDULER)
        return f"{count} reminders queued; {reach(session, election).summary()}"
    if job == VOTING_CLOSES:
        if stage(session, election, now).reached(Stage.SEALED):
            return "the board was already sealed"
        seal_board(session, election, now, by=SCHEDULER)
        return "board sealed"
    raise ValueError(f"unknown job {job!r}")


# --- The committee's summary at the close of nominations ----------------------------------

COUNTED = (
    ("nominations", "nomineringar", None),
    ("accepted by the nominee", "accepterade av den nominerade", None),
    ("awaiting the nominee", "väntar på den nominerade", NominationStatus.AWAITING_NOMINEE),
    ("declined", "avböjda", NominationStatus.DECLINED),
    ("awaiting review", "väntar på granskning", NominationStatus.AWAITING_REVIEW),
    ("approved", "godkända", NominationStatus.APPROVED),
    ("rejected", "avslagna", NominationStatus.REJECTED),
)
ACCEPTED = (NominationStatus.AWAITING_REVIEW, NominationStatus.APPROVED, NominationStatus.REJECTED)


def nomination_counts(session: Session, election: Election) -> dict[str, dict[str, int]]:
    """Per krets code: nominations in all, accepted by the nominee, and per status."""
    by_contest = {c.id: c.krets_code for c in election.contests}
    counts = {
        code: {status.value: 0 for status in NominationStatus} for code in by_contest.values()
    }
    for contest_id, status, number in session.execute(
        select(Nomination.contest_id, Nomination.status, func.count())
        .where(Nomination.election_id == election.id)
        .group_by(Nomination.contest_id, Nomination.status)
    ):
        counts[by_contest[contest_id]][status] = number
    for row in counts.values():
        row["total"] = sum(row.values())
        row["accepted"] = sum(row[s.value] for s in ACCEPTED)
    return counts


def nomination_summary(election: Election, counts: dict[str, dict[str, int]]) -> tuple[str, str]:
    """The summary mail: counts only, per krets; no names (the committee's pages have those)."""
    names = {c.krets_code: c.krets.name for c in election.contests}
    closes = election.local(election.nomination_closes).strftime("%Y-%m-%d %H:%M")

    def table(english: bool) -> str:
        lines = []
        for code in sorted(counts):
            row = counts[code]
            values = [row["total"], row["accepted"]] + [
                row[status.value] for _en, _sv, status in COUNTED[2:] if status is not None
            ]
            labels = [en if english else sv for en, sv, _status in COUNTED]
            parts = ", ".join(
                f"{label} {value}" for label, value in zip(labels, values, strict=True)
            )
            lines.append(f"{names[code]} ({code}): {parts}")
        return "\n".join(lines)

    subject = f"Nomineringen har stängt: {election.title}"
    body = (
        f"Nomineringsperioden i {election.title} stängde {closes} ({election.timezone}).\n\n"
        "Nomineringar per krets:\n\n"
        f"{table(english=False)}\n\n"
        "Granska de nominerade och publicera kandidatlistorna i kommitténs vy innan "
        "röstningen öppnar.\n\nValberedningen (schemaläggaren)\n\n"
        "-- In English --\n\n"
        f"The nomination period of {election.title} closed {closes} ({election.timezone}).\n\n"
        f"{table(english=True)}\n\n"
        "Review the nominees and publish the candidate lists before voting opens.\n"
    )
    return subject, body


def committee_addresses(session: Session) -> list[str]:
    """The committee's and the admins' addresses (the auditor gets no mail to act on)."""
    return list(
        session.scalars(
            select(User.email)
            .where(User.role.in_([Role.COMMITTEE.value, Role.ADMIN.value]))
            .order_by(User.email)
        )
    )


def send_nomination_summary(session: Session, election: Election, now: datetime) -> int:
    """Queue the summary to every committee address; returns how many were queued."""
    subject, body = nomination_summary(election, nomination_counts(session, election))
    recipients = committee_addresses(session)
    for address in recipients:
        queue_mail(
            session,
            to=address,
            subject=subject,
            body=body,
            kind="committee_summary",
            now=now,
            election_id=election.id,
        )
    return len(recipients)


# --- Checkpoints while a window is open ---------------------------------------------------


def checkpoint_if_grew(session: Session, election: Election, now: datetime) -> bool:
    """Checkpoint the election's log if it grew since its last checkpoint; True if written."""
    head = session.get(AuditHead, election.slug)
    last = session.scalar(select(func.max(Checkpoint.size)).where(Checkpoint.log == election.slug))
    if head is None or head.size <= (last or 0):
        return False
    checkpoint_now(session, election.slug, now, "scheduler.hourly")
    return True


def window_open(election: Election, now: datetime) -> bool:
    """Whether the nomination or the voting window is open by the schedule."""
    return election.phase(now) in ("nomination", "voting")
