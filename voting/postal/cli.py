"""``voting postal``: register and confirm outer envelopes, open batches, enter paper ballots.

Each command names the committee member who acts (``--by EMAIL``): the database keeps who
registered and who confirmed an envelope, and who made each entry, and refuses the same person
twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import click
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from voting import clock
from voting.auth import GRANTS, Role
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.models import Contest, Election
from voting.elections.services import get_election
from voting.errors import VotingError
from voting.letters.services import letter_contact
from voting.postal import kit, services
from voting.postal.models import COUNTED, PENDING, SET_ASIDE
from voting.staff.models import User

BY = click.option(
    "--by", "by_email", required=True, help="The email of the committee member who acts."
)


def _staff(session: Session, email: str) -> int:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"--by: no staff account {email!r}")
    if Role.COMMITTEE not in GRANTS[Role(user.role)]:
        raise click.ClickException(f"--by: {email} is not a committee member")
    return user.id


def _contest(election: Election, krets: str) -> Contest:
    for contest in election.contests:
        if contest.krets_code == krets or str(contest.id) == krets:
            return contest
    raise click.ClickException(f"--krets: no krets {krets!r} in election {election.slug}")


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(getattr(exc, "message", None) or str(exc))


@click.group("postal", help="Postal ballots: outer envelopes, batches, double entry.")
def postal_group() -> None:
    pass


@postal_group.command("register")
@click.argument("slug")
@click.argument("member_ids", nargs=-1, required=True)
@BY
def register(slug: str, member_ids: tuple[str, ...], by_email: str) -> None:
    """Register returned outer envelopes by member ID; a second member confirms them."""
    try:
        with db.transaction() as session:
            by = _staff(session, by_email)
            election = get_election(session, slug)
            for member_id in member_ids:
                services.register_envelope(session, election, member_id, clock.now(), by=by)
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(
        f"Registered {_envelopes(len(member_ids))}. Another committee member confirms with "
        f"`voting postal confirm {slug} MEMBER_ID... --by EMAIL`."
    )


def _envelopes(count: int) -> str:
    return f"{count} envelope" if count == 1 else f"{count} envelopes"


@postal_group.command("confirm")
@click.argument("slug")
@click.argument("member_ids", nargs=-1)
@click.option("--all", "confirm_all", is_flag=True, help="Every envelope others registered.")
@BY
def confirm(slug: str, member_ids: tuple[str, ...], confirm_all: bool, by_email: str) -> None:
    """Confirm registered envelopes (four eyes); those of members who voted online are set
    aside."""
    if bool(member_ids) == confirm_all:
        raise click.UsageError("give member IDs or --all, not both")
    try:
        with db.transaction() as session:
            by = _staff(session, by_email)
            election = get_election(session, slug)
            if confirm_all:
                pending = services.pending_envelopes(session, election)
                member_ids = tuple(e.member_id for e in pending if e.registered_by != by)
            done = [
                services.confirm_envelope(session, election, m, clock.now(), by=by)
                for m in member_ids
            ]
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    aside = [e.member_id for e in done if e.status == SET_ASIDE]
    click.echo(f"Confirmed {_envelopes(len(done) - len(aside))}.")
    if aside:
        click.echo(
            f"Set aside unopened, as these members voted online: {', '.join(aside)}.", err=True
        )


@postal_group.command("batch")
@click.argument("slug")
@click.option("--krets", required=True, help="The krets (or contest id) of the envelopes.")
@click.option("--envelopes", type=int, required=True, help="How many inner envelopes.")
@BY
def batch(slug: str, krets: str, envelopes: int, by_email: str) -> None:
    """Open inner envelopes of one krets together as a batch (before the close: at least
    POSTAL_BATCH_MIN)."""
    try:
        with db.transaction() as session:
            by = _staff(session, by_email)
            election = get_election(session, slug)
            opened = services.open_batch(
                session,
                election,
                _contest(election, krets).id,
                envelopes,
                clock.now(),
                batch_min=int(current_app.config["POSTAL_BATCH_MIN"]),
                by=by,
            )
            batch_id = opened.id
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(
        f"Batch {batch_id}: {envelopes} envelopes. Number the ballots 1–{envelopes} and enter "
        f"them twice with `voting postal enter {slug} {batch_id} FILE --by EMAIL`."
    )


def _lines(source: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


@postal_group.command("enter")
@click.argument("slug")
@click.argument("batch_id", type=int)
@click.argument("source", type=click.File("r", encoding="utf-8"))
@BY
def enter(slug: str, batch_id: int, source: TextIO, by_email: str) -> None:
    """Enter a batch's ballots from a file (``-`` for standard input): one line per ballot,
    ``POSITION: NUMBERS``, with ``0`` for no marks and ``x`` for unreadable."""
    count = 0
    try:
        with db.transaction() as session:
            by = _staff(session, by_email)
            election = get_election(session, slug)
            for number, line in _lines(source):
                position, sep, marks = line.partition(":")
                if not sep or not position.strip().isdigit():
                    raise click.ClickException(
                        f"line {number}: write POSITION: NUMBERS, for example 3: 1 4"
                    )
                try:
                    services.enter_ballot(
                        session,
                        election,
                        batch_id,
                        int(position),
                        marks,
                        clock.now(),
                        by=by,
                    )
                except VotingError as exc:
                    raise click.ClickException(f"line {number}: {exc.message}") from exc
                count += 1
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"Entered {count} ballots of batch {batch_id}.")


@postal_group.command("resolve")
@click.argument("slug")
@click.argument("batch_id", type=int)
@click.argument("position", type=int)
@click.argument("marks")
@BY
def resolve(slug: str, batch_id: int, position: int, marks: str, by_email: str) -> None:
    """Settle a ballot whose two entries differ, with the paper ballot at hand."""
    try:
        with db.transaction() as session:
            by = _staff(session, by_email)
            election = get_election(session, slug)
            services.resolve_ballot(
                session, election, batch_id, position, marks, clock.now(), by=by
            )
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"Ballot {position} of batch {batch_id} is settled.")


@postal_group.command("accept")
@click.argument("slug")
@click.argument("batch_id", type=int)
@BY
def accept(slug: str, batch_id: int, by_email: str) -> None:
    """Accept a batch whose ballots are all entered twice and agree."""
    try:
        with db.transaction() as session:
            by = _staff(session, by_email)
            election = get_election(session, slug)
            counts = services.accept_batch(session, election, batch_id, clock.now(), by=by)
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(
        f"Batch {batch_id} accepted: {counts['ballots']} valid ballots, "
        f"{counts['invalid']} invalid."
    )


@postal_group.command("status")
@click.argument("slug")
def status(slug: str) -> None:
    """Envelopes per krets, and each batch's state (counts only)."""
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            counts = services.envelope_counts(session, election)
            for contest in sorted(election.contests, key=lambda c: c.id):
                n = counts[contest.id]
                click.echo(
                    f"{contest.krets_code}: {n[COUNTED]} envelopes confirmed, {n[PENDING]} "
                    f"waiting for a second member, {n[SET_ASIDE]} set aside"
                )
            for b in services.batches(session, election):
                state = services.batch_state(session, b)
                done = (
                    "accepted"
                    if b.accepted_at
                    else ", ".join(f"{k} {len(v)}" for k, v in state.items())
                )
                click.echo(f"batch {b.id} ({b.envelopes} envelopes): {done}")
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc


@postal_group.command("kits")
@click.argument("slug")
@click.option(
    "-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="A new file."
)
def kits(slug: str, output: Path) -> None:
    """Write the postal kits (letter, ballot, return instructions) of every postal member who
    has not voted to a new file (mode 0600), for the print shop."""
    try:
        with db.transaction() as session:
            pdf, count, skipped = kit.kits_pdf(
                session,
                get_election(session, slug),
                clock.now(),
                current_app.config["BASE_URL"],
                letter_contact(current_app.config),
                by="cli",
            )
            # Why O_EXCL and 0600: the kits hold names and addresses; never overwrite a file.
            try:
                fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError as exc:
                raise click.ClickException(f"{output} exists already; name a new file") from exc
            with os.fdopen(fd, "wb") as out:
                out.write(pdf)
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"Wrote {count} postal kits to {output}.")
    for reason, n in skipped.items():
        click.echo(f"Skipped {n} members: {reason}.")
