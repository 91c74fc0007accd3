"""``voting election ...``"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app

from voting.audit.record import RecordNotReady, build_record, ensure_final_checkpoint
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import SCHEDULE_FIELDS, create_election, get_election, reschedule


def _now():  # type: ignore[no-untyped-def]
    return current_app.config["CLOCK"]()


@click.group("election", help="Create, show and schedule elections.")
def election_group() -> None:
    pass


@election_group.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def create(file: Path) -> None:
    """Create an election from FILE.toml and print its slug."""
    try:
        with db.transaction() as session:
            election = create_election(session, file.read_text(encoding="utf-8"), _now())
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
    now = _now()
    info = {
        "slug": election.slug,
        "title": election.title,
        "timezone": election.timezone,
        "phase": election.phase(now),
        "schedule": {f: election.local(getattr(election, f)).isoformat() for f in SCHEDULE_FIELDS},
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
    click.echo("Kretsar:")
    for k in info["kretsar"]:
        click.echo(
            f"  {k['code']:22} {k['name']:24} seats {k['seats']}, mark {k['min_selections']}"
            f"-{k['max_selections']}, ersättare {k['substitutes']}"
        )


@election_group.command("schedule")
@click.argument("slug")
@click.option("--nomination-opens")
@click.option("--nomination-closes")
@click.option("--voting-opens")
@click.option("--voting-closes")
def schedule(slug: str, **times: str | None) -> None:
    """Change schedule times (ISO 8601, or 'now'; without offset: the election's timezone)."""
    changes = {k: v for k, v in times.items() if v is not None}
    if not changes:
        raise click.UsageError("give at least one of the time options")
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            changed = reschedule(session, election, changes, _now())
            lines = [
                f"{f}: {election.local(old).isoformat()} -> {election.local(new).isoformat()}"
                for f, (old, new) in changed.items()
            ]
    except ElectionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\n".join(lines) if lines else "Nothing changed.")


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
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            ensure_final_checkpoint(session, election, current_app.config["CLOCK"]())
            record = build_record(session, election)
    except (ElectionError, RecordNotReady) as exc:
        raise click.ClickException(str(exc)) from exc
    text = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"{output}: {record['log']['fingerprint']}", err=True)
