"""The lifecycle from the command line: ``voting election show`` (with the stage), ``roll
freeze``, ``links send``, ``board``, ``tally`` and ``results``. ``election show``, ``roll freeze``
and ``links send`` are attached to their groups in voting/cli.py."""

from __future__ import annotations

import json
import os
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app

from ballots.rules import holds_vote
from voting import clock
from voting.ballot import services
from voting.ballot.models import BoardSeal
from voting.ballot.unreachable import reach
from voting.db import OWNER_URL_ENV, db, make_engine
from voting.elections.cli import reminders_text
from voting.elections.errors import ElectionError
from voting.elections.services import SCHEDULE_FIELDS, format_reminder, get_election
from voting.errors import VotingError
from voting.lifecycle import results as results_service
from voting.lifecycle import stage
from voting.lifecycle import tally as tally_service
from voting.lifecycle.results import count_sv, no_vote_sv, percent_sv, place_sv
from voting.lifecycle.roll import freeze_roll, send_links
from voting.lifecycle.seal import seal_board
from voting.log.services import CLI


def _votes_sv(count: int) -> str:
    return count_sv(count, "röst", "röster")


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.command("freeze")
@click.argument("slug")
def roll_freeze(slug: str) -> None:
    """Freeze the roll now: every member of the election's kretsar, as the register is."""
    try:
        with db.transaction() as session:
            sizes = freeze_roll(session, get_election(session, slug), clock.now(), by=CLI)
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    for code, size in sorted(sizes.items()):
        click.echo(f"{code:24} {size}")
    click.echo(f"Roll frozen: {sum(sizes.values())} members.")


@click.group("board", help="The public ballot board.")
def board_group() -> None:
    pass


@board_group.command("seal")
@click.argument("slug")
def board_seal(slug: str) -> None:
    """After the close: write each contest's board hash and counts into the log."""
    try:
        with db.transaction() as session:
            data = seal_board(session, get_election(session, slug), clock.now(), by=CLI)
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(json.dumps(data, indent=2))


# The after-the-seal rewrite on PostgreSQL (SECURITY.md, docs/deployment.md section 10, which
# shows the same statements; tests/ballot/test_arrival_order.py holds the two together).
# One transaction, so every row gets the same xmin:
REWRITE_IN_ONE_TRANSACTION = (
    "UPDATE ballot SET contest_id = contest_id",
    "UPDATE signature_issued SET blinded_hash = blinded_hash",
)
# Then, each on its own: rewrite the tables in key order, without the old row versions.
CLUSTER_IN_KEY_ORDER = (
    "CLUSTER ballot USING pk_ballot",
    "CLUSTER signature_issued USING pk_signature_issued",
)


@board_group.command("compact")
@click.argument("slug")
@click.option(
    "--owner-url",
    help=f"PostgreSQL: the owner role's database URL (default: ${OWNER_URL_ENV}).",
)
def board_compact(slug: str, owner_url: str | None) -> None:
    """After the seal: rewrite ballot and signature_issued in key order, without arrival order.

    Run it with the services and the backup timer stopped (docs/deployment.md, section 10).
    On PostgreSQL it needs the owner of the tables, whose URL is never part of the app's
    configuration: give --owner-url or set KONGRESSVAL_OWNER_DATABASE_URL for this command.
    """
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            sealed = session.get(BoardSeal, election.id) is not None
    except ElectionError as exc:
        raise _fail(exc) from exc
    if not sealed:
        raise click.ClickException(
            f"the board of {slug} is not sealed: compact only after `voting board seal {slug}`"
        )
    db.session.close()
    if db.engine.dialect.name == "sqlite":
        # Why VACUUM: both tables are WITHOUT ROWID, but inside a page SQLite keeps each new
        # row's bytes below the last one; VACUUM rewrites every page in key order.
        # The driver's connection directly: the engine's "begin" hook would open a transaction,
        # and VACUUM runs only outside one (voting/db.py leaves sqlite3 in autocommit).
        raw = db.engine.raw_connection()
        try:
            raw.cursor().execute("VACUUM")
        finally:
            raw.close()
        click.echo("Database rewritten in key order (SQLite VACUUM).")
        return
    # Why from the environment and not the app's config: the owner's password is needed only
    # for this step and must not sit with the service's settings.
    owner_url = owner_url or os.environ.get(OWNER_URL_ENV)
    if not owner_url:
        raise click.ClickException(
            "PostgreSQL: compacting needs the owner of the ballot tables (the app role may not "  # noqa: S608 - a message, not SQL
            f"UPDATE them). Give --owner-url or set {OWNER_URL_ENV} for this one command."
        )
    engine = make_engine(owner_url)  # postgresql:// URLs get the psycopg driver, as the app's
    try:
        with engine.begin() as conn:
            for statement in REWRITE_IN_ONE_TRANSACTION:
                conn.exec_driver_sql(statement)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement in CLUSTER_IN_KEY_ORDER:
                conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError as exc:
        # The driver's message only (no parameters are bound; the URL is not in it).
        raise click.ClickException(f"PostgreSQL: {exc.orig}") from exc
    finally:
        engine.dispose()
    click.echo("ballot and signature_issued rewritten in key order (PostgreSQL).")


@click.command("tally")
@click.argument("slug")
@click.option("--seed", required=True, help="The lottery seed drawn at the counting meeting.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def tally(slug: str, seed: str, as_json: bool) -> None:
    """After the sealed close: check every ballot again, count, and decide ties by lot."""
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            result = tally_service.tally(session, election, seed, clock.now(), by=CLI)
            names = {
                str(n.id): n.member.full_name
                for contest in election.contests
                for n in services.published_candidates(session, contest)
            }
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True))
        return
    for contest in result["contests"]:
        votes = contest["votes"]

        def who(cid: str, votes: dict[str, int] = votes) -> str:
            return f"{names.get(cid, cid)} ({_votes_sv(votes[cid])})"

        if holds_vote(contest["seats"], len(votes)):
            issued = count_sv(
                contest["signatures_issued"], "signatur utfärdad", "signaturer utfärdade"
            )
            click.echo(
                f"\n{contest['krets']}: "
                f"{count_sv(contest['ballots_cast'], 'röstsedel', 'röstsedlar')}, {issued}, "
                f"röstlängd {contest['roll_size']}, valdeltagande {percent_sv(contest['turnout'])}"
            )
            if "paper_ballots" in contest:
                click.echo(
                    f"  Poströster: {contest['paper_ballots']} giltiga, "
                    f"{contest['paper_invalid']} ogiltiga"
                )
        else:  # the protocol's words: no vote was held, the candidates were elected without one
            empty = max(0, contest["seats"] - len(votes))
            click.echo(f"\n{contest['krets']}: {no_vote_sv({**contest, 'empty_seats': empty})}")
        click.echo("  Valda:")
        for cid in contest["elected"]:
            click.echo(f"    {who(cid)}")
        click.echo("  Ersättare:")
        for rank, cid in enumerate(contest["ersattare"], 1):
            click.echo(f"    {rank}. {who(cid)}")
        for tie in contest["ties"]:
            order = ", ".join(
                f"{names.get(e['candidate'], e['candidate'])} → {place_sv(e['place'])}"
                for e in tie["order"]
            )
            click.echo(f"  Lottning ({_votes_sv(tie['votes'])}): {order}")
    click.echo(f"\nRäknat med seed {seed!r}. Resultatet och dess hash är loggade (tally.counted).")


@click.group("results", help="The counted results.")
def results_group() -> None:
    pass


@results_group.command("publish")
@click.argument("slug")
def results_publish(slug: str) -> None:
    """Publish the counted results: the public page, JSON, CSV and the protocol PDF (logged)."""
    try:
        with db.transaction() as session:
            digest = results_service.publish_results(
                session, get_election(session, slug), clock.now(), by=CLI
            )
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    base = current_app.config.get("BASE_URL") or ""
    click.echo(f"Results published (results hash {digest}).")
    click.echo(f"{base}/val/{slug}/resultat")


@click.command("send")
@click.argument("slug")
def links_send(slug: str) -> None:
    """Queue a voting link to every member of the roll who has none (freezes the roll if needed)."""
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            count = send_links(
                session, election, clock.now(), current_app.config["BASE_URL"], by=CLI
            )
            unreachable = reach(session, election)
    except (VotingError, ElectionError) as exc:
        raise _fail(exc) from exc
    click.echo(f"Queued {count} voting links. Deliver them with `voting mail send`.")
    click.echo(unreachable.hint(slug))


@click.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(slug: str, as_json: bool) -> None:
    """Show an election, its schedule in its own timezone and its kretsar."""
    try:
        election = get_election(db.session, slug)
    except ElectionError as exc:
        raise click.ClickException(str(exc)) from exc
    now = clock.now()
    info: dict[str, Any] = {
        "slug": election.slug,
        "title": election.title,
        "timezone": election.timezone,
        "phase": election.phase(now),
        "stage": stage(db.session, election, now).value,
        "schedule": {f: election.local(getattr(election, f)).isoformat() for f in SCHEDULE_FIELDS},
        "reminders": [format_reminder(h) for h in election.reminder_hours or []],
        "candidates_published": election.candidates_published_at is not None,
        "kretsar": [
            {
                "contest_id": c.id,
                "code": c.krets_code,
                "name": c.krets.name,
                "seats": c.seats,
                "min_selections": c.min_selections,
                "max_selections": c.max_selections,
                "substitutes": c.substitutes,
            }
            for c in election.contests
        ],
    }
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    click.echo(f"{election.title} ({election.slug}), stage: {info['stage']}")
    click.echo(f"Times in {election.timezone}:")
    for field in SCHEDULE_FIELDS:
        click.echo(f"  {field:18} {info['schedule'][field]}")
    click.echo(f"  {'reminders':18} {reminders_text(election.reminder_hours)} before the close")
    click.echo("Kretsar:")
    for k in info["kretsar"]:
        click.echo(
            f"  {k['code']:22} {k['name']:24} seats {k['seats']}, mark {k['min_selections']}"
            f"-{k['max_selections']}, ersättare {k['substitutes']}"
        )
