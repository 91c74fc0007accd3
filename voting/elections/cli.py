"""``voting election ...``"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from voting import clock
from voting.audit.record import RecordNotReady, build_record, ensure_final_checkpoint
from voting.audit.services import CLI
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import (
    SCHEDULE_FIELDS,
    create_election,
    format_reminder,
    get_election,
    reminder_items,
    reschedule,
    set_reminders,
)
from voting.scheduler.models import JobRun


@click.group("election", help="Create, show and schedule elections.")
def election_group() -> None:
    pass


@election_group.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def create(file: Path) -> None:
    """Create an election from FILE.toml and print its slug."""
    try:
        with db.transaction() as session:
            election = create_election(
                session, file.read_text(encoding="utf-8"), clock.now(), by=CLI
            )
            slug = election.slug
    except ElectionError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    click.echo(slug)


@election_group.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(slug: str, as_json: bool) -> None:
    """Show an election, its schedule in its own timezone and its kretsar."""
    try:
        election = get_election(db.session, slug)
    except ElectionError as exc:
        raise click.ClickException(str(exc)) from exc
    now = clock.now()
    info: dict[str, Any] = {
        "slug": election.slug,
        "title": election.title,
        "timezone": election.timezone,
        "phase": election.phase(now),
        "schedule": {f: election.local(getattr(election, f)).isoformat() for f in SCHEDULE_FIELDS},
        "reminders": [format_reminder(h) for h in election.reminder_hours or []],
        "candidates_published": election.candidates_published_at is not None,
        "kretsar": [
            {
                "contest_id": c.id,
                "code": c.krets_code,
                "name": c.krets.name,
                "seats": c.seats,
                "min_selections": c.min_selections,
                "max_selections": c.max_selections,
                "substitutes": c.substitutes,
            }
            for c in election.contests
        ],
    }
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"{election.title} ({election.slug}), phase: {info['phase']}")
    click.echo(f"Times in {election.timezone}:")
    for field in SCHEDULE_FIELDS:
        click.echo(f"  {field:18} {info['schedule'][field]}")
    click.echo(f"  {'reminders':18} {_reminders_text(election.reminder_hours)} before the close")
    click.echo("Kretsar:")
    for k in info["kretsar"]:
        click.echo(
            f"  {k['code']:22} {k['name']:24} seats {k['seats']}, mark {k['min_selections']}"
            f"-{k['max_selections']}, ersättare {k['substitutes']}"
        )


def _reminders_text(hours: list[int] | None) -> str:
    return ", ".join(format_reminder(h) for h in hours or []) or "none"


@election_group.command("schedule")
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
                        f"reminders: {_reminders_text(result[0])} -> {_reminders_text(result[1])}"
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


@election_group.command("export")
@click.argument("slug")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the record (JSON); - for standard output.",
)
def export(slug: str, output: Path) -> None:
    """Write the election record of a counted election, for verify-election."""
    if str(output) != "-":
        # Why first: the export writes a final checkpoint; refuse before that, not after.
        target = output if output.exists() else (output.parent if str(output.parent) else Path("."))
        if not os.access(target, os.W_OK):
            raise click.ClickException(f"{output}: cannot write there; give another path with -o")
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            ensure_final_checkpoint(session, election, clock.now())
            record = build_record(session, election)
    except (ElectionError, RecordNotReady) as exc:
        raise click.ClickException(str(exc)) from exc
    text = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{output}: {exc.strerror}") from exc
    click.echo(f"{output}: {record['log']['fingerprint']}", err=True)
