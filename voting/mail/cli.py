"""``voting mail``: deliver the outbox once, run a delivery worker, count the outbox, and list
the members whom mail cannot reach."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from types import FrameType

import click
from flask import current_app
from sqlalchemy.exc import OperationalError

from voting import clock
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import get_election, list_elections
from voting.mail.delivery import DeliveryReport, deliver_due, outbox_counts
from voting.mail.errors import DeliveryError
from voting.mail.pacing import RateLimiter
from voting.mail.unreachable import (
    Reach,
    UnreachableMember,
    reach,
    unreachable_csv,
    unreachable_members,
)
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


@mail_group.command(
    "status",
    help="How many messages are queued, due, sent and failed; and, for each election whose "
    "voting has not closed (or the one given), how many members mail cannot reach.",
)
@click.option("--election", "slug", metavar="SLUG", help="Only this election's members.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(slug: str | None, as_json: bool) -> None:
    now = clock.now()
    try:
        counts: dict[str, object] = dict(outbox_counts(db.session, now))
        if slug:
            elections = [get_election(db.session, slug)]
        else:
            elections = [e for e in list_elections(db.session) if now <= e.voting_closes]
        reaches = {e.slug: reach(db.session, e) for e in elections}
    except ElectionError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.session.rollback()
    if as_json:
        counts["unreachable"] = {name: r.as_dict() for name, r in reaches.items()}
        click.echo(json.dumps(counts, sort_keys=True))
        return
    click.echo(", ".join(f"{name} {count}" for name, count in counts.items()))
    for name, counted in reaches.items():
        click.echo(f"{name}: {counted.summary()}")


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file readable by the owner only."""
    tmp = path.with_name(f".{path.name}.partial")
    tmp.unlink(missing_ok=True)
    # Why 0600: the list names members; nobody else on the machine needs to read it.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _unreachable_text(counted: Reach, members: list[UnreachableMember]) -> str:
    lines = []
    if not counted.roll_frozen:
        lines.append(
            "The roll is not frozen yet: these are the members of the election's kretsar now."
        )
    for m in members:
        lines.append(f"{m.member_id:<12} {m.full_name:<40} {m.krets_code:<16} {m.reason}")
    lines.append(counted.summary() + ".")
    return "\n".join(lines) + "\n"


@mail_group.command("unreachable")
@click.argument("slug")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (;-separated, UTF-8 with BOM).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
    help="Write to this file (mode 0600) instead of standard output.",
)
def unreachable_command(slug: str, as_csv: bool, as_json: bool, output: Path | None) -> None:
    """The members on the roll whom mail cannot reach (no address, bounced or rejected).

    Before the roll is frozen, the members of the election's kretsar, as the roll would be.
    The reason is missing, bounced or rejected.
    """
    if as_csv and as_json:
        raise click.UsageError("give --csv or --json, not both")
    try:
        election = get_election(db.session, slug)
        members = unreachable_members(db.session, election)
        counted = reach(db.session, election)
    except ElectionError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.session.rollback()
    if as_csv:
        data = unreachable_csv(members)
    elif as_json:
        document = {
            "election": slug,
            **counted.as_dict(),
            "members": [
                {
                    "member_id": m.member_id,
                    "first_name": m.first_name,
                    "last_name": m.last_name,
                    "krets": m.krets_code,
                    "krets_name": m.krets_name,
                    "reason": m.reason.value,
                }
                for m in members
            ],
        }
        data = (json.dumps(document, ensure_ascii=False, sort_keys=True) + "\n").encode()
    else:
        data = _unreachable_text(counted, members).encode()
    if output is None or str(output) == "-":
        click.echo(data, nl=False)
    else:
        _write_private(output, data)
        click.echo(f"Wrote {len(members)} members to {output}.", err=True)
    if (as_csv or as_json) and not counted.roll_frozen:
        # On stderr: the file itself stays a clean CSV or JSON document.
        click.echo(
            "note: the roll is not frozen yet; the list is the members of the election's "
            "kretsar now.",
            err=True,
        )
