"""``voting roll add``, ``links`` and ``vote`` (the stage changes are in lifecycle/cli.py)."""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

import click
from flask import current_app

from ballots.client import VoterClient
from ballots.errors import BallotError
from voting import clock
from voting.ballot import links, services
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import get_election
from voting.errors import VotingError
from voting.log.services import CLI
from voting.members.models import Member


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group("roll", help="The electoral roll.")
def roll_group() -> None:
    pass


@roll_group.command("add")
@click.argument("slug")
@click.argument("member_id")
def roll_add(slug: str, member_id: str) -> None:
    """Add a member to a frozen roll (logged)."""
    try:
        with db.transaction() as session:
            member = session.get(Member, member_id)
            if member is None:
                raise click.ClickException(f"no member {member_id!r}")
            services.add_to_roll(session, get_election(session, slug), member, clock.now(), by=CLI)
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"Added {member_id} to the roll.")


@click.group("links", help="Voting links.")
def links_group() -> None:
    pass


@links_group.command("resend")
@click.argument("slug")
@click.argument("member_id")
def links_resend(slug: str, member_id: str) -> None:
    """Revoke a member's link and send a new one."""
    try:
        with db.transaction() as session:
            member = session.get(Member, member_id)
            if member is None:
                raise click.ClickException(f"no member {member_id!r}")
            links.resend_link(
                session,
                get_election(session, slug),
                member,
                clock.now(),
                current_app.config["BASE_URL"],
            )
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo("A new link is queued; the old one no longer works.")


@links_group.command("remind")
@click.argument("slug")
def links_remind(slug: str) -> None:
    """Mail a fresh link to those on the roll who have not voted."""
    try:
        with db.transaction() as session:
            count = links.remind(
                session,
                get_election(session, slug),
                clock.now(),
                current_app.config["BASE_URL"],
                by=CLI,
            )
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"Queued {count} reminders.")


LINK_ENV = "VOTING_LINK"


@click.command("vote")
@click.argument("link", required=False, envvar=LINK_ENV)
@click.option("--choose", "choices", multiple=True, required=True, help="A candidate ID.")
def vote(link: str | None, choices: tuple[str, ...]) -> None:
    """Vote through the HTTP API with an emailed LINK (a scripted voter, for tests and drills).

    LINK holds the voter's bearer token. Given as an argument it is visible to other users of
    the machine (ps, /proc) and is kept in the shell history. Instead, leave LINK out and set
    the environment variable VOTING_LINK, or give LINK as - and the link on standard input.
    """
    # Why: a command line is readable by every user of the host; the environment and a pipe
    # are not, and neither lands in the shell history.
    if link == "-":
        link = sys.stdin.readline()
    link = (link or "").strip()
    if not link:
        raise click.UsageError(
            f"no voting link: set {LINK_ENV}, or give LINK as - and the link on standard input"
        )
    parts = urlsplit(link)
    if not parts.scheme or links.LINK_PATH not in parts.path:
        raise click.UsageError(
            f"LINK must be a voting link like https://host{links.LINK_PATH}<token>"
        )
    base, token = link.split(links.LINK_PATH, 1)
    # Why retries: a lost answer is asked for again with the same request (same blinded
    # message, same signed ballot), which the server answers the same way.
    client = VoterClient(base, token.strip("/"), retries=3)
    try:
        me = client.voter()
        receipt = client.vote(me["election"], me["contest"], list(choices))
    except BallotError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(json.dumps(receipt, indent=2))
