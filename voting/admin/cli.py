"""``voting admin``, ``voting nominations`` and ``voting candidates``.

The command line acts as "cli" in the audit log (the web logs the staff user's id).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from flask import current_app

from voting import clock
from voting.admin.services import (
    create_user,
    disable_user,
    enable_user,
    list_users,
    provisioning_uri,
    reset_password,
    reset_totp,
)
from voting.auth import Role
from voting.db import OWNER_URL_ENV, db, owner_transaction, refused_for_rights
from voting.elections.errors import ElectionError
from voting.elections.services import get_election
from voting.errors import NoVoteNotConfirmed, ServiceError, TransitionBlocked
from voting.lifecycle.candidates import (
    contests_without_vote,
    no_vote_line,
    publication_warnings,
    publish_candidates,
)
from voting.nominations import review
from voting.nominations.models import Nomination, NominationStatus
from voting.staff.models import User

F = TypeVar("F", bound=Callable[..., Any])


def owner_url_option(command: F) -> F:
    """``--owner-url`` (or the environment's owner URL) for a command that changes accounts."""
    return click.option(
        "--owner-url",
        envvar=OWNER_URL_ENV,
        help=f"PostgreSQL: the owner role's database URL (default: ${OWNER_URL_ENV}).",
    )(command)


@contextmanager
def as_owner(owner_url: str | None) -> Iterator[Any]:
    """A unit of work as the owner; the app role's refusal becomes a one-line hint."""
    # Why the owner: on PostgreSQL the app role may not create accounts or change a role, a
    # password, a TOTP secret, the disabled mark or an eID mapping (deploy/postgresql/grants.sql),
    # so a stolen app password cannot make itself an admin.
    try:
        with owner_transaction(owner_url) as session:
            yield session
    except sa.exc.DBAPIError as exc:
        if not refused_for_rights(exc):
            raise
        raise click.ClickException(
            "the app's database role may not change staff accounts: give --owner-url or set "
            f"{OWNER_URL_ENV} (the owner role's URL) for this one command"
        ) from exc


@click.group("admin", help="Staff accounts.")
def admin_group() -> None:
    pass


@admin_group.command("create")
@click.argument("email")
@click.option(
    "--role", required=True, type=click.Choice([r.value for r in Role]), help="The account's role."
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@owner_url_option
def admin_create(email: str, role: str, password_stdin: bool, owner_url: str | None) -> None:
    """Create a staff account; prints its TOTP secret and otpauth:// URI once."""
    password = _read_password(password_stdin)
    try:
        with as_owner(owner_url) as session:
            user, secret = create_user(session, email, role, password, clock.now())
            address, user_id = user.email, user.id
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Created {role} account {user_id} for {address}.")
    _show_totp(address, secret)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    # Why prompted and hidden, never an option: a password in argv lands in shell history and
    # in every process listing.
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _show_totp(address: str, secret: str) -> None:
    click.echo("Add this to an authenticator app now; it is not shown again.")
    click.echo(f"TOTP secret: {secret}")
    click.echo(f"Provisioning URI: {provisioning_uri(address, secret)}")


def _account_info(user: User, eid: bool) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "enabled": user.disabled_at is None,
        "disabled_at": user.disabled_at.isoformat() if user.disabled_at else None,
        "totp": bool(user.totp_secret_enc),
        "eid": eid,
        "last_login": user.last_login_at.isoformat() if user.last_login_at else None,
        "created": user.created_at.isoformat(),
    }


@admin_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def admin_list(as_json: bool) -> None:
    """List the staff accounts: email, role, enabled, TOTP and eID set, last login."""
    items = [_account_info(user, eid) for user, eid in list_users(db.session)]
    db.session.rollback()
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("No staff accounts.")
        return

    def yes(value: bool) -> str:
        return "yes" if value else "no"

    click.echo(
        f"{'id':>4}  {'email':<32} {'role':<9} {'enabled':<8} {'totp':<5} {'eid':<4} last login"
    )
    for item in items:
        click.echo(
            f"{item['id']:>4}  {item['email']:<32} {item['role']:<9} {yes(item['enabled']):<8} "
            f"{yes(item['totp']):<5} {yes(item['eid']):<4} {item['last_login'] or 'never'}"
        )


@admin_group.command("disable")
@click.argument("email")
@owner_url_option
def admin_disable(email: str, owner_url: str | None) -> None:
    """Disable an account: it cannot log in, and its sessions end at once."""
    try:
        with as_owner(owner_url) as session:
            user, changed = disable_user(session, email, clock.now())
            address = user.email
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"Disabled {address}; its sessions have ended."
        if changed
        else f"{address} was disabled already; nothing changed."
    )


@admin_group.command("enable")
@click.argument("email")
@owner_url_option
def admin_enable(email: str, owner_url: str | None) -> None:
    """Enable a disabled account again (its password and TOTP stay as they were)."""
    try:
        with as_owner(owner_url) as session:
            user, changed = enable_user(session, email, clock.now())
            address = user.email
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"Enabled {address}." if changed else f"{address} was enabled already; nothing changed."
    )


@admin_group.command("reset-password")
@click.argument("email")
@click.option(
    "--password-stdin", is_flag=True, help="Read the new password from the first line of stdin."
)
@owner_url_option
def admin_reset_password(email: str, password_stdin: bool, owner_url: str | None) -> None:
    """Set a new password for an account; its sessions end at once."""
    password = _read_password(password_stdin)
    try:
        with as_owner(owner_url) as session:
            address = reset_password(session, email, password, clock.now()).email
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"New password set for {address}; its sessions have ended.")


@admin_group.command("reset-totp")
@click.argument("email")
@owner_url_option
def admin_reset_totp(email: str, owner_url: str | None) -> None:
    """Give an account a new TOTP secret (printed once); its sessions end at once."""
    try:
        with as_owner(owner_url) as session:
            user, secret = reset_totp(session, email, clock.now())
            address = user.email
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"New TOTP secret for {address}; its sessions have ended. The old codes no longer work."
    )
    _show_totp(address, secret)


@click.group("nominations", help="Review nominations.")
def nominations_group() -> None:
    pass


def nomination_info(nomination: Nomination) -> dict[str, Any]:
    """What the committee sees of one nomination, as plain data."""
    member = nomination.member
    return {
        "id": nomination.id,
        "status": nomination.status,
        "krets": nomination.contest.krets_code,
        "member_id": member.member_id,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "email": member.email,
        "nominators": nomination.nominator_count,
        "reviewed_at": nomination.reviewed_at.isoformat() if nomination.reviewed_at else None,
        "review_reason": nomination.review_reason,
        "submissions": [
            {
                "nominator": s.nominator.full_name if s.nominator else None,
                "forening": s.forening.name if s.forening else None,
                "nominator_says_accepted": s.nominator_says_accepted,
                "motivation": s.motivation,
                "duplicate": s.status == "duplicate",
            }
            for s in review.merged_submissions(nomination)
        ],
    }


@nominations_group.command("list")
@click.argument("slug")
@click.option("--krets", help="Only this krets code.")
@click.option(
    "--status", type=click.Choice([s.value for s in NominationStatus]), help="Only this status."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def nominations_list(slug: str, krets: str | None, status: str | None, as_json: bool) -> None:
    """List an election's nominations with the member's data and merged nominators."""
    try:
        election = get_election(db.session, slug)
        rows = review.list_nominations(db.session, election, krets=krets, status=status)
    except (ElectionError, ServiceError) as exc:
        raise click.ClickException(str(exc)) from exc
    items = [nomination_info(n) for n in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("No nominations.")
        return
    for item in items:
        click.echo(
            f"{item['id']:>5}  {item['krets']:<22} {item['status']:<17} "
            f"{item['first_name']} {item['last_name']} ({item['member_id']}, "
            f"{item['email'] or 'no email'}), {item['nominators']} nominator(s)"
        )
        for sub in item["submissions"]:
            who = f"förening {sub['forening']}" if sub["forening"] else sub["nominator"]
            said = "yes" if sub["nominator_says_accepted"] else "no"
            extra = " [duplicate]" if sub["duplicate"] else ""
            click.echo(f"         - {who}{extra}; says accepted: {said}")
            if sub["motivation"]:
                click.echo(f"           {sub['motivation']}")


def _review(nomination_id: int, action: str, reason: str | None = None) -> str:
    try:
        with db.transaction() as session:
            nomination = review.get_nomination(session, nomination_id)
            if action == "approve":
                review.approve(session, nomination, None, clock.now())
            else:
                review.reject(session, nomination, None, reason or "", clock.now())
            return f"Nomination {nomination.id} is now {nomination.status}."
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc


@nominations_group.command("approve")
@click.argument("nomination_id", metavar="ID", type=int)
def nominations_approve(nomination_id: int) -> None:
    """Approve nomination ID (the nominee must have accepted) and mail the nominee."""
    click.echo(_review(nomination_id, "approve"))


@nominations_group.command("reject")
@click.argument("nomination_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why; mailed to the nominee, kept off the log.")
def nominations_reject(nomination_id: int, reason: str) -> None:
    """Reject nomination ID with a reason and mail the nominee."""
    click.echo(_review(nomination_id, "reject", reason))


@click.group("candidates", help="Candidate lists.")
def candidates_group() -> None:
    pass


@candidates_group.command("publish")
@click.argument("slug")
@click.option(
    "--confirm-no-vote",
    is_flag=True,
    help="Publish although some kretsar have no more candidates than seats (no vote there).",
)
def candidates_publish(slug: str, confirm_no_vote: bool) -> None:
    """Publish and freeze the candidate lists; prints what blocks it and exits 1 if anything.

    A krets with no more approved candidates than seats holds no vote: its candidates are
    elected without one. Such kretsar are listed, and publishing needs --confirm-no-vote.
    """
    try:
        with db.transaction() as session:
            election = get_election(session, slug)
            warnings = publication_warnings(session, election)
            without_vote = [no_vote_line(c, n) for c, n in contests_without_vote(session, election)]
            published = publish_candidates(
                session,
                election,
                clock.now(),
                key_bits=current_app.config["CONTEST_KEY_BITS"],
                confirm_no_vote=confirm_no_vote,
            )
    except NoVoteNotConfirmed as exc:
        click.echo(
            "These kretsar would hold no vote (no more candidates than seats); "
            "nothing was published. Run again with --confirm-no-vote to publish:",
            err=True,
        )
        for line in exc.without_vote:
            click.echo(f"  - {line}", err=True)
        sys.exit(1)
    except TransitionBlocked as exc:
        click.echo("The candidate lists cannot be published yet:", err=True)
        for blocker in exc.blockers:
            click.echo(f"  - {blocker}", err=True)
        sys.exit(1)
    except (ElectionError, ServiceError) as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in warnings:
        click.echo(f"Note: {warning}")
    for line in without_vote:
        click.echo(f"No vote: {line}")
    click.echo(f"Published the candidate lists of {slug}:")
    for item in published:
        click.echo(
            f"  {item['krets']:<22} {len(item['candidates'])} candidate(s)  "
            f"sha256 {item['list_hash']}"
        )
