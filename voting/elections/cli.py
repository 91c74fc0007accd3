"""``voting election ...``"""

from __future__ import annotations

from pathlib import Path

import click

from voting import clock
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import (
    create_election,
    format_reminder,
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


def reminders_text(hours: list[int] | None) -> str:
    return ", ".join(format_reminder(h) for h in hours or []) or "none"
