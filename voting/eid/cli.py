"""``voting admin eid EMAIL``: map a staff account to a Swedish eID, or remove the mapping."""

from __future__ import annotations

import sys

import click

from voting import clock
from voting.admin.cli import as_owner, owner_url_option
from voting.admin.errors import AdminError
from voting.admin.services import get_user
from voting.eid.errors import EidTaken
from voting.eid.services import remove_staff_eid, set_staff_eid
from voting.members.errors import PersonnummerError


@click.command(
    "eid",
    help=(
        "Let a staff account sign in with Swedish eID: the account holder's personnummer is read "
        "from standard input (never an argument, which other users see in ps). Only a keyed hash "
        "is stored. --remove takes the mapping away. Password and TOTP keep working."
    ),
)
@click.argument("email")
@click.option("--remove", is_flag=True, help="Remove the account's eID instead.")
@owner_url_option
def staff_eid_command(email: str, remove: bool, owner_url: str | None) -> None:
    now = clock.now()
    try:
        with as_owner(owner_url) as session:
            user = get_user(session, email)
            address = user.email
            if remove:
                removed = remove_staff_eid(session, user, now)
                click.echo("eID removed." if removed else "The account had no eID.")
                return
            if sys.stdin.isatty():
                pnr = click.prompt("Personnummer", hide_input=True)
            else:
                pnr = sys.stdin.readline().strip()
            set_staff_eid(session, user, pnr, now)
    except AdminError as exc:
        raise click.ClickException(exc.message) from exc
    except PersonnummerError as exc:
        raise click.ClickException(f"personnummer: {exc.message}") from exc
    except EidTaken as exc:
        raise click.ClickException("that eID already signs in to another staff account") from exc
    click.echo(f"{address} may now sign in with that eID.")
