"""``voting scheduler``: run each election's timed jobs, as a process of its own."""

from __future__ import annotations

import signal
from types import FrameType

import click
from flask import current_app

from voting.config import DEFAULTS
from voting.scheduler.jobs import Status
from voting.scheduler.locks import LockError, runner_lock
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
