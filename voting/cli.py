"""The ``voting`` command: one Flask CLI group, subcommands grouped by noun."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, NoAppException

from voting.db import upgrade


@click.group("db", help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Migrate the database to the newest schema.")
def db_upgrade() -> None:
    upgrade(current_app.config["DATABASE_URL"])
    click.echo("Database is at the newest schema.")


def register(app: Flask) -> None:
    """Attach every command group to ``app.cli``."""
    from voting.admin.cli import admin_group, candidates_group, nominations_group
    from voting.audit.cli import export, log_group
    from voting.backup import backup_command
    from voting.ballot.cli import links_group, roll_group, vote
    from voting.ballot.reach_cli import status_command, unreachable_command
    from voting.eid.cli import staff_eid_command
    from voting.elections.cli import election_group
    from voting.letters.cli import letters_group
    from voting.lifecycle.cli import (
        board_group,
        links_send,
        results_group,
        roll_freeze,
        show,
        tally,
    )
    from voting.mail.cli import mail_group
    from voting.members.cli import foreningar_group, members_group
    from voting.postal.cli import postal_group
    from voting.scheduler.cli import schedule, scheduler_command

    for group in (
        db_group,
        admin_group,
        election_group,
        members_group,
        foreningar_group,
        nominations_group,
        candidates_group,
        mail_group,
        roll_group,
        links_group,
        letters_group,
        postal_group,
        board_group,
        vote,
        tally,
        results_group,
        log_group,
        scheduler_command,
        backup_command,
    ):
        app.cli.add_command(group)
    admin_group.add_command(staff_eid_command)  # voting admin eid EMAIL
    election_group.add_command(show)  # voting election show SLUG
    election_group.add_command(export)  # voting election export SLUG
    roll_group.add_command(roll_freeze)  # voting roll freeze SLUG
    links_group.add_command(links_send)  # voting links send SLUG
    mail_group.add_command(status_command)  # voting mail status
    mail_group.add_command(unreachable_command)  # voting mail unreachable SLUG
    election_group.add_command(schedule)  # voting election schedule SLUG --voting-closes ...
    if app.config["DEMO"]:
        from voting.dev.cli import demo_group

        app.cli.add_command(demo_group)


def _create_app() -> Flask:
    from voting import create_app
    from voting.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # Why: Flask's CLI prints this as a one-line error (and `voting --help` still lists the
        # built-in commands) instead of a traceback.
        raise NoAppException(f"{exc} See docs/deployment.md, section 4.") from exc


main = FlaskGroup(
    name="voting",
    create_app=_create_app,
    help="Kongressval: nominations and elections of congress delegates.",
)
