"""``voting election ...``"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from voting import clock
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import (
    SCHEDULE_FIELDS,
    create_election,
    format_reminder,
    get_election,
)
from voting.log.services import CLI


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
    click.echo(f"  {'reminders':18} {reminders_text(election.reminder_hours)} before the close")
    click.echo("Kretsar:")
    for k in info["kretsar"]:
        click.echo(
            f"  {k['code']:22} {k['name']:24} seats {k['seats']}, mark {k['min_selections']}"
            f"-{k['max_selections']}, ersättare {k['substitutes']}"
        )


def reminders_text(hours: list[int] | None) -> str:
    return ", ".join(format_reminder(h) for h in hours or []) or "none"
