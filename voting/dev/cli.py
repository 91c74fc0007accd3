"""``voting demo`` (only with the DEMO setting, on SQLite with the mail sink)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app

from voting import clock
from voting.db import db
from voting.dev.demo import demo_exists, demo_slug, load_demo, summary


@click.group("demo", help="Demo data for the local demo.")
def demo_group() -> None:
    pass


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only (it holds passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    tmp.replace(path)


@demo_group.command("load", help="Load the demo election, members and staff unless loaded.")
@click.option("--members", type=click.IntRange(min=2, max=100_000), default=500, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for the names.")
@click.option(
    "--logins-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the printed logins here (mode 0600), and print them again on later runs.",
)
def load_command(members: int, seed: int, logins_file: Path | None) -> None:
    now = clock.now()
    if demo_exists(db.session, now):
        db.session.rollback()
        click.echo(f"The demo election {demo_slug(now)} is already loaded; nothing changed.")
        if logins_file is not None and logins_file.exists():
            click.echo(logins_file.read_text(encoding="utf-8"), nl=False)
        return
    with db.transaction() as session:
        result = load_demo(session, now, members=members, seed=seed)
    if result is None:  # loaded by someone else meanwhile
        click.echo(f"The demo election {demo_slug(now)} is already loaded; nothing changed.")
        return
    text = "\n".join(summary(result, current_app.config["BASE_URL"])) + "\n"
    click.echo(text, nl=False)
    if logins_file is not None and result.logins:
        # Why a file at all: the passwords exist nowhere else, and scripts/serve shows them
        # again on every start. It lives under instance/, which git ignores.
        _write_private(logins_file, text)
