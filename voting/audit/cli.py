"""``voting log``: the election's audit log and its signed checkpoints."""

from __future__ import annotations

import json

import click

from voting import clock
from voting.audit.checkpoints import checkpoint_json, checkpoint_now, log_key_json
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import get_election


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
