"""``voting mail status`` and ``voting mail unreachable``: the outbox's counts and, from the roll,
the members whom mail cannot reach (attached to the mail group in voting/cli.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from voting import clock
from voting.ballot.unreachable import (
    Reach,
    UnreachableMember,
    reach,
    unreachable_csv,
    unreachable_members,
)
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import get_election, list_elections
from voting.mail.delivery import outbox_counts


@click.command(
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


@click.command("unreachable")
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
