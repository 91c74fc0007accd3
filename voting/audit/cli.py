"""``voting log``: the election's audit log and its signed checkpoints; ``voting election export``:
the election record (attached to the election group in voting/cli.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from voting import clock
from voting.audit.record import RecordNotReady, build_record, ensure_final_checkpoint
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import get_election
from voting.log.checkpoints import checkpoint_json, checkpoint_now, log_key_json


@click.group("log", help="The audit log and its signed checkpoints.")
def log_group() -> None:
    pass


@log_group.command("checkpoint")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the checkpoint as JSON.")
def log_checkpoint(slug: str, as_json: bool) -> None:
    """Sign a checkpoint of the election's log as it is now (none new if it has not grown)."""
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            row = checkpoint_now(session, election.slug, clock.now(), "manual")
            data = checkpoint_json(row) | log_key_json(session, election.slug)
    except ElectionError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(data["body"], nl=False)
    click.echo(f"signature {data['signature']}")
    click.echo(f"log key fingerprint {data['log_key_fingerprint']}")


@click.command("export")
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
