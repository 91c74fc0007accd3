"""An election for the scheduler: two kretsar, members, approved nominations, staff to mail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_staff_quick
from voting.elections.models import Election
from voting.elections.services import create_election
from voting.members.models import Member
from voting.nominations.models import Nomination, NominationStatus
from voting.nominations.review import candidate_list, list_hash

ROOT = Path(__file__).resolve().parents[2]

# Times of the standard election below, in UTC.
NOMINATION_CLOSES = datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC)
VOTING_OPENS = datetime(2027, 1, 11, 23, 0, tzinfo=UTC)
VOTING_CLOSES = datetime(2027, 1, 25, 22, 59, 59, tzinfo=UTC)
DURING_NOMINATION = datetime(2026, 11, 1, tzinfo=UTC)
REVIEW = datetime(2026, 12, 15, tzinfo=UTC)


def election_file(
    slug: str = "val-2027",
    reminders: str | None = None,
    times: tuple[datetime, datetime, datetime, datetime] | None = None,
) -> str:
    schedule = (
        'nomination_opens = "2026-10-01T00:00"\n'
        'nomination_closes = "2026-11-30T23:59:59"\n'
        'voting_opens = "2027-01-12T00:00"\n'
        'voting_closes = "2027-01-25T23:59:59"\n'
    )
    if times is not None:
        fields = ("nomination_opens", "nomination_closes", "voting_opens", "voting_closes")
        schedule = "".join(f'{f} = "{t.isoformat()}"\n' for f, t in zip(fields, times, strict=True))
    if reminders is not None:
        schedule += f"reminders = {reminders}\n"
    return f"""
slug = "{slug}"
title = "Kongressombudsval 2027"
[schedule]
{schedule}
[[krets]]
code = "SODERMALM"
name = "Södermalm"
seats = 1
[[krets]]
code = "BROMMA"
name = "Bromma"
seats = 1
"""


def make_election(
    session: Session,
    now: datetime,
    slug: str = "val-2027",
    reminders: str | None = None,
    times: tuple[datetime, datetime, datetime, datetime] | None = None,
    members: bool = True,
) -> Election:
    """The election with members (with email) in both kretsar and nominations in all states."""
    election = create_election(session, election_file(slug, reminders, times), now, by="cli")
    if not members:
        return election
    contests = {c.krets_code: c for c in election.contests}
    statuses = [
        ("SODERMALM", NominationStatus.APPROVED),
        ("SODERMALM", NominationStatus.APPROVED),
        ("SODERMALM", NominationStatus.DECLINED),
        ("SODERMALM", NominationStatus.AWAITING_NOMINEE),
        ("BROMMA", NominationStatus.APPROVED),
        ("BROMMA", NominationStatus.APPROVED),
    ]
    # Both kretsar have more approved candidates than seats, so both hold a vote.
    existing = session.scalar(select(func.count()).select_from(Member)) or 0
    for index, (krets, status) in enumerate(statuses, start=existing + 1):
        member = Member(
            member_id=f"M{index}",
            first_name="Förnamn",
            last_name=f"Efternamn{index}",
            email=f"m{index}@example.org",
            krets_code=krets,
            updated_at=now,
        )
        session.add(member)
        session.flush()
        session.add(
            Nomination(
                election_id=election.id,
                contest_id=contests[krets].id,
                member_id=member.member_id,
                status=status,
                created_at=now,
            )
        )
    session.flush()
    return election


def publish(session: Session, election: Election, now: datetime) -> None:
    """Publish the candidate lists the short way (no contest keys: the scheduler needs none)."""
    for contest in election.contests:
        contest.list_hash = list_hash(candidate_list(session, contest))
    election.candidates_published_at = now
    session.flush()


def add_committee(session: Session, now: datetime) -> list[str]:
    """A committee member, an admin and an auditor; the first two get the summary."""
    return [
        make_staff_quick(session, role, now).email for role in ("committee", "admin", "auditor")
    ]


# --- Subprocesses ---------------------------------------------------------------------------


def scheduler_env(app: Flask, **settings: Any) -> dict[str, str]:
    """The environment of a ``voting scheduler`` process on the test app's database."""
    env = {
        **os.environ,
        "VOTING_DATABASE_URL": app.config["DATABASE_URL"],
        "VOTING_SECRET_KEY": app.config["SECRET_KEY"],
        "VOTING_DATA_KEY": app.config["DATA_KEY"],
        "VOTING_BASE_URL": app.config["BASE_URL"],
        "VOTING_MAIL_TRANSPORT": "sink",
        "VOTING_SCHEDULER_RESYNC_SECONDS": "1",
        "VOTING_SCHEDULER_LOCK_RETRY_SECONDS": "0.5",
        "VOTING_SCHEDULER_CLOSE_GRACE_SECONDS": "0",
    }
    env.update({f"VOTING_{k}": str(v) for k, v in settings.items()})
    env.pop("FLASK_DEBUG", None)
    return env


DEBUG_MAIN = (
    "import faulthandler, signal; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "from voting.cli import main; main()"
)


class SchedulerProcess:
    """``voting scheduler`` in a process of its own, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self.handle = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", DEBUG_MAIN, "scheduler", *args],
            env=env,
            cwd=ROOT,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None:
                raise AssertionError(f"scheduler exited early:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout} s:\n{self.output}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self.handle.close()

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(2)
            raise AssertionError(f"no exit {timeout} s after SIGTERM:\n{self.output}") from exc
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(30)
            self.handle.close()
        return code


def utc_now() -> datetime:
    return datetime.now(UTC)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
