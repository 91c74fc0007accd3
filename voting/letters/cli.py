"""``voting letters``: make the voting letters, and write their PDF to a file (mode 0600)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app

from voting import clock
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.services import get_election
from voting.errors import VotingError
from voting.letters import services
from voting.letters.services import letter_contact
from voting.log.services import CLI
from voting.members.models import Member

SKIPPED = {
    "voted": "have voted",
    "no_vote": "are in a krets without a vote",
    "no_address": "have no postal address",
    "needs_approval": "would get a letter where their vote did not go before (two committee "
    "members: the letters page, one by one)",
}


def _write(path: Path, pdf: bytes) -> None:
    """Write ``pdf`` to a new file that only its owner can read."""
    # Why O_EXCL and 0600: the PDF holds voting codes; never overwrite, never world-readable.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise click.ClickException(f"{path} exists already; name a new file") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pdf)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(getattr(exc, "message", None) or str(exc))


@click.group("letters", help="Voting letters with a personal voting code, for the letter channel.")
def letters_group() -> None:
    pass


@letters_group.command("issue")
@click.argument("slug")
def letters_issue(slug: str) -> None:
    """New letters for every letter member of the roll; older codes stop working."""
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            done = services.issue_letters(
                session,
                election,
                clock.now(),
                current_app.config["BASE_URL"],
                letter_contact(current_app.config),
                by=CLI,
            )
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"Made {done.count} letters. Write them with `voting letters pdf {slug} -o FILE`.")
    for reason, count in done.skipped.items():
        click.echo(f"Skipped {count} members who {SKIPPED.get(reason, reason)}.")


@letters_group.command("replace")
@click.argument("slug")
@click.argument("member_id")
def letters_replace(slug: str, member_id: str) -> None:
    """A new letter for one member; their old code stops working."""
    try:
        with db.transaction() as session:
            member = session.get(Member, member_id)
            if member is None:
                raise click.ClickException(f"no member {member_id!r}")
            services.replace_letter(
                session,
                get_election(session, slug),
                member,
                clock.now(),
                current_app.config["BASE_URL"],
                letter_contact(current_app.config),
                by=CLI,
            )
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"A new letter is made. Write it with `voting letters pdf {slug} -o FILE`.")


@letters_group.command("pdf")
@click.argument("slug")
@click.option(
    "-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="A new file."
)
@click.option("--batch", "batch_id", type=int, help="Which waiting PDF, when several wait.")
def letters_pdf(slug: str, output: Path, batch_id: int | None) -> None:
    """Write waiting letters to a new file (mode 0600); they are deleted from the server."""
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            waiting = services.waiting(session, election)
            if batch_id is None:
                if not waiting:
                    raise click.ClickException(
                        f"no letters are waiting; make new ones with `voting letters issue {slug}`"
                    )
                if len(waiting) > 1:
                    listed = ", ".join(f"{b} ({n} letters)" for b, _at, n in waiting)
                    raise click.ClickException(
                        f"several PDFs wait; choose one with --batch: {listed}"
                    )
                batch_id = waiting[0][0]
            pdf = services.download(session, election, batch_id, clock.now(), by=CLI)
            # Written inside the transaction: if the file cannot be written, the PDF stays.
            _write(output, pdf)
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"Wrote {output}. The letters are no longer on the server.")
