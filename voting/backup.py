"""``voting backup``: a consistent snapshot of the whole database, taken while the app runs.

SQLite is copied with its online backup API (a consistent copy even while others write);
PostgreSQL is dumped with ``pg_dump -Fc`` (one snapshot transaction), restored with
``pg_restore``. docs/deployment.md shows the restore.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import click
from flask import current_app
from sqlalchemy.engine import make_url

from voting.errors import OperationalError


class BackupError(OperationalError):
    """The snapshot could not be made."""


def _private_tmp(output: Path) -> Path:
    """A fresh temporary file next to ``output``, readable by the owner only."""
    tmp = output.with_name(f".{output.name}.partial")
    tmp.unlink(missing_ok=True)
    # Why 0600: a backup holds the member register and every election's encrypted keys.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return tmp


def backup_sqlite(url: str, output: Path) -> None:
    """Copy the SQLite database at ``url`` to ``output`` with sqlite3's online backup API."""
    database = make_url(url).database
    if not database or database == ":memory:" or not Path(database).exists():
        raise BackupError(f"no SQLite database file at {database!r}")
    tmp = _private_tmp(output)
    try:
        source = sqlite3.connect(database, timeout=30)
        target = sqlite3.connect(tmp)
        try:
            with target:
                source.backup(target)
            # One self-contained file: no -wal beside it to forget when copying it away.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
            source.close()
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)


def libpq_url(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URL without the password, and the environment carrying it.

    Why: a password on a command line is visible to every user of the machine in ``ps``.
    """
    parsed = make_url(url).set(drivername="postgresql")
    env = {}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
        parsed = parsed.set(password=None)
    return parsed.render_as_string(hide_password=False), env


def backup_postgres(url: str, output: Path, pg_dump: str = "pg_dump") -> None:
    """Dump the PostgreSQL database at ``url`` to ``output`` in pg_dump's custom format."""
    program = shutil.which(pg_dump)
    if program is None:
        raise BackupError("pg_dump is not installed (Debian: apt-get install postgresql-client)")
    dsn, env = libpq_url(url)
    tmp = _private_tmp(output)
    try:
        done = subprocess.run(  # noqa: S603 - fixed program, no shell
            [program, "--format=custom", "--file", str(tmp), "--dbname", dsn],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)


def backup(url: str, output: Path) -> None:
    """A consistent snapshot of the database at ``url`` in ``output``."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        backup_sqlite(url, output)
    elif backend == "postgresql":
        backup_postgres(url, output)
    else:
        raise BackupError(f"no backup for the {backend} backend")


@click.command("backup", help="Write a consistent snapshot of the whole database to a file.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="SQLite: a database file; PostgreSQL: a pg_dump custom-format archive (pg_restore).",
)
def backup_command(output: Path) -> None:
    try:
        backup(current_app.config["DATABASE_URL"], output)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backup written to {output} ({output.stat().st_size} bytes).")
