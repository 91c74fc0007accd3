"""``voting members`` and ``voting foreningar``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from voting import clock
from voting.db import db
from voting.log.services import CLI
from voting.members.channels import (
    RULE_NO_EMAIL,
    set_channel,
    set_channel_by_rule,
    set_channels_from_csv,
)
from voting.members.errors import RegisterError, RegisterImportError
from voting.members.importing import ImportResult, import_foreningar, import_members
from voting.members.importing import Progress as ProgressCallback
from voting.members.models import Channel
from voting.members.services import get_member, list_foreningar, member_summary

STAGES = {"check": "Kontrollerar", "write": "Skriver"}


@click.group("members", help="The member register.")
def members_group() -> None:
    pass


@click.group("foreningar", help="Föreningar and their contacts.")
def foreningar_group() -> None:
    pass


@contextmanager
def _progress_bar() -> Iterator[ProgressCallback]:
    """A rich progress bar on stderr, fed by the service's ``progress(stage, done, total)``."""
    console = Console(file=sys.stderr)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total or 1)
            bar.update(tasks[stage], completed=done if total else 1, total=total or 1)

        yield update


def _report_errors(file: Path, exc: RegisterImportError) -> None:
    for error in exc.errors:
        click.echo(str(error), err=True)
    raise click.ClickException(
        f"{file}: {len(exc.errors)} error(s); nothing was imported. Fix the file and try again."
    )


def _echo_counts(result: ImportResult) -> None:
    click.echo(
        f"rows: {result.rows}, inserted: {result.inserted}, updated: {result.updated}, "
        f"unchanged: {result.unchanged}"
    )


@members_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
def import_command(file: Path, no_progress: bool) -> None:
    """Import FILE.csv into the member register (upsert on member_id; all or nothing)."""
    now = clock.now()
    try:
        with db.transaction() as session:
            if no_progress:
                result = import_members(session, file, now, by=CLI)
            else:
                with _progress_bar() as progress:
                    result = import_members(session, file, now, progress=progress, by=CLI)
    except RegisterImportError as exc:
        _report_errors(file, exc)
    _echo_counts(result)


@members_group.command("channel")
@click.option("--member", "member_id", help="One member's ID (with --to).")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CSV of member_id,channel (all or nothing).",
)
@click.option("--rule", type=click.Choice([RULE_NO_EMAIL]), help="Select members by rule.")
@click.option("--to", "channel", type=click.Choice([c.value for c in Channel]))
def channel_command(
    member_id: str | None, csv_file: Path | None, rule: str | None, channel: str | None
) -> None:
    """Set members' voting channel: email (a mailed link), letter (a voting code by post) or
    postal (a postal ballot). Use exactly one of --member ID --to C, --csv FILE, or
    --rule no-email --to C (everyone without a usable email address)."""
    chosen = [x for x in (member_id, csv_file, rule) if x is not None]
    if len(chosen) != 1 or (csv_file is None) != (channel is not None):
        raise click.UsageError("use one of: --member ID --to C; --csv FILE; --rule R --to C")
    now = clock.now()
    try:
        with db.transaction() as session:
            if csv_file is not None:
                result = set_channels_from_csv(session, csv_file, now, by=CLI)
            elif rule is not None and channel is not None:
                result = set_channel_by_rule(session, rule, channel, now, by=CLI)
            elif member_id is not None and channel is not None:
                result = set_channel(session, member_id, channel, now, by=CLI)
    except RegisterImportError as exc:
        _report_errors(csv_file or Path("-"), exc)
    except RegisterError as exc:
        raise click.ClickException(str(exc)) from exc
    skipped = f", skipped (no postal or email address): {result.skipped}" if rule else ""
    click.echo(f"changed: {result.changed}, unchanged: {result.unchanged}{skipped}")
    click.echo(", ".join(f"{name}: {count}" for name, count in result.per_channel.items()))


@members_group.command("show")
@click.argument("member_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(member_id: str, as_json: bool) -> None:
    """Show one member; the personnummer is masked."""
    session = db.session
    try:
        info = member_summary(session, get_member(session, member_id))
    except RegisterError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, sort_keys=True))
        return
    labels = (
        ("member_id", "Medlemsnummer"),
        ("first_name", "Förnamn"),
        ("last_name", "Efternamn"),
        ("personnummer", "Personnummer"),
        ("krets", "Krets"),
        ("forening", "Förening"),
        ("email", "E-post"),
        ("phone", "Telefon"),
    )
    for key, label in labels:
        value = info[key]
        if key == "krets" and info["krets_name"]:
            value = f"{info['krets_name']} ({value})"
        click.echo(f"{label + ':':<15}{value if value is not None else '-'}")


@foreningar_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def foreningar_import_command(file: Path) -> None:
    """Import FILE.csv (name,krets,contact_email); upsert on name; all or nothing."""
    now = clock.now()
    try:
        with db.transaction() as session:
            result = import_foreningar(session, file, now, by=CLI)
    except RegisterImportError as exc:
        _report_errors(file, exc)
    _echo_counts(result)


@foreningar_group.command("list")
@click.option("--krets", "krets_code", help="Only this krets.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def foreningar_list_command(krets_code: str | None, as_json: bool) -> None:
    """List föreningar with krets and contact."""
    rows = [
        {"name": f.name, "krets": f.krets_code, "contact_email": f.contact_email}
        for f in list_foreningar(db.session, krets_code)
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, sort_keys=True))
        return
    for row in rows:
        click.echo(f"{row['name']}\t{row['krets']}\t{row['contact_email'] or '-'}")
