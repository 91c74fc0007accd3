"""``voting mail``: deliver the outbox once and run a delivery worker. ``mail status`` and ``mail
unreachable`` read the roll too, so they live in ballot/reach_cli.py (attached in voting/cli.py)."""

from __future__ import annotations

import signal
from types import FrameType

import click
from flask import current_app
from sqlalchemy.exc import OperationalError

from voting.mail.delivery import DeliveryReport, deliver_due
from voting.mail.errors import DeliveryError
from voting.mail.pacing import RateLimiter
from voting.stopflag import StopFlag

RATE_HELP = (
    "Send at most this many mails a minute; 0 = no limit. Default: MAIL_RATE_PER_MINUTE. "
    "With RATELIMIT_STORAGE_URI on Redis all workers share the limit; with memory://, "
    "each has its own."
)


@click.group("mail", help="The outbox.")
def mail_group() -> None:
    pass


def _limiter(rate: int | None, stop: StopFlag | None = None) -> RateLimiter:
    if stop is None:
        return RateLimiter.from_config(current_app.config, per_minute=rate)
    return RateLimiter.from_config(current_app.config, per_minute=rate, sleep=stop.wait)


def _deliver_once(
    limit: int | None, limiter: RateLimiter, stop: StopFlag | None = None
) -> DeliveryReport:
    sessions = current_app.extensions["db"]["sessionmaker"]
    try:
        report = deliver_due(
            sessions,
            current_app.config,
            current_app.config["CLOCK"],  # read at each claim: a run may outlast a lease
            limit,
            limiter=limiter,
            stop=stop,
        )
    except DeliveryError as exc:
        raise click.ClickException(str(exc)) from exc
    return report


@mail_group.command("send", help="Deliver what is due in the outbox once, then exit.")
@click.option("--limit", type=click.IntRange(min=1), help="Deliver at most this many.")
@click.option("--rate", type=click.IntRange(min=0), help=RATE_HELP)
def send_command(limit: int | None, rate: int | None) -> None:
    click.echo(str(_deliver_once(limit, _limiter(rate))))


@mail_group.command("worker", help="Deliver the outbox until stopped (SIGTERM or Ctrl-C).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between looks at the outbox.",
)
@click.option("--rate", type=click.IntRange(min=0), help=RATE_HELP)
@click.option(
    "--until-idle",
    is_flag=True,
    help="Exit once a look finds nothing due (for batch runs and benchmarks).",
)
def worker_command(interval: float, rate: int | None, until_idle: bool) -> None:
    stop = StopFlag()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # Finish the message on the wire, then leave: a killed send would be re-sent.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    # One limiter for the worker's life, so that the pace holds across looks at the outbox.
    limiter = _limiter(rate, stop)
    scope = "shared by all workers" if limiter.shared else "in this process"
    pace = f"at most {limiter.per_minute}/min {scope}" if limiter.per_minute else "no rate limit"
    click.echo(f"Mail worker started (every {interval:g} s, {pace}). Stop with Ctrl-C or SIGTERM.")
    try:
        while not stop.is_set():
            try:
                report = _deliver_once(None, limiter, stop)
            except OperationalError as exc:
                # The database may be restarting: say so and try again, do not die.
                click.echo(f"database unavailable: {exc.__class__.__name__}", err=True)
                stop.wait(interval)
                continue
            if report.total:  # quiet while there is nothing to do
                click.echo(str(report))
            elif until_idle:
                break
            stop.wait(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Mail worker stopped.")
