"""``voting scheduler``: run each election's timed jobs, as a process of its own; and
``voting election schedule``, which moves those times (attached to the election group in
voting/cli.py: it must know which jobs have run).
"""

from __future__ import annotations

import signal
from datetime import timedelta
from types import FrameType

import click
from flask import current_app
from sqlalchemy import select

from voting import clock
from voting.config import DEFAULTS
from voting.db import db
from voting.elections.cli import reminders_text
from voting.elections.errors import ElectionError
from voting.elections.services import format_reminder, get_election, reminder_items
from voting.lifecycle.schedule import reschedule, set_reminders
from voting.log.services import CLI
from voting.scheduler.jobs import Status
from voting.scheduler.locks import LockError, runner_lock
from voting.scheduler.models import JobRun
from voting.scheduler.runner import Runner, run_once
from voting.stopflag import StopFlag


def _echo(message: str) -> None:
    click.echo(message)


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run every due job now, then exit (cron, tests).")
def scheduler_command(once: bool) -> None:
    """Run the elections' timed jobs until stopped (SIGTERM or Ctrl-C); one runner acts."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        lock = runner_lock(app.config["DATABASE_URL"])
    except LockError as exc:
        raise click.ClickException(str(exc)) from exc
    if app.config["BASE_URL"] == DEFAULTS["BASE_URL"] and not (app.config["DEMO"] or app.testing):
        # Links mailed by the scheduler would point at this default; say so loudly.
        _echo(f"warning: BASE_URL is the default {DEFAULTS['BASE_URL']}; set VOTING_BASE_URL")
    if once:
        result = run_once(app, lock, _echo)
        failed = [o for o in result["outcomes"] if o.status is Status.FAILED]
        if failed:
            raise click.ClickException(f"{len(failed)} job(s) failed; see above")
        return
    stop = StopFlag()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    runner = Runner(app, lock, _echo)
    runner.say("scheduler started; stop with Ctrl-C or SIGTERM")
    try:
        runner.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    runner.say("scheduler stopped")


@click.command("schedule")
@click.argument("slug")
@click.option("--nomination-opens")
@click.option("--nomination-closes")
@click.option("--voting-opens")
@click.option("--voting-closes")
@click.option(
    "--reminders",
    help='Reminders to non-voters before the close: "3d,1d", hours as "72,24", or "none".',
)
def schedule(slug: str, reminders: str | None, **times: str | None) -> None:
    """Change schedule times (ISO 8601, 'now' or 'now+5m'; without offset: local time).

    A running `voting scheduler` picks the change up at its next resync. Once nominations
    close their times are fixed; once voting opens, voting_opens is fixed and voting_closes
    may only move to a time later than now; after the close nothing changes.
    """
    changes = {k: v for k, v in times.items() if v is not None}
    if not changes and reminders is None:
        raise click.UsageError("give at least one of the time options or --reminders")
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            now = clock.now()
            changed = reschedule(session, election, changes, now, by=CLI) if changes else {}
            lines = [
                f"{f}: {election.local(old).isoformat()} -> {election.local(new).isoformat()}"
                for f, (old, new) in changed.items()
            ]
            if reminders is not None:
                result = set_reminders(session, election, reminder_items(reminders), now, by=CLI)
                if result is not None:
                    lines.append(
                        f"reminders: {reminders_text(result[0])} -> {reminders_text(result[1])}"
                    )
            ran = set(session.scalars(select(JobRun.job).where(JobRun.election_id == election.id)))
            past = [
                format_reminder(h)
                for h in election.reminder_hours or []
                if election.voting_opens < election.voting_closes - timedelta(hours=h) <= now
                and now <= election.voting_closes
                and f"reminder-{h}h" not in ran
            ]
    except ElectionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\n".join(lines) if lines else "Nothing changed.")
    if lines and past:
        click.echo(
            f"Note: the reminder(s) {', '.join(past)} before the close are already due and have "
            "not run; the scheduler sends the latest of them at once."
        )
