"""The PostgreSQL roles of docs/deployment.md: the app role may append to the log, never rewrite it.

The test runs deploy/postgresql/roles.sql and grants.sql with psql, as the guide does, under
role and database names of its own (roles are shared by the whole server), and drops them after.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pyotp
import pytest
import sqlalchemy as sa

from ballots.client import VoterClient
from tests.ballot.conftest import flask_transport
from tests.conftest import PG_ADMIN_URL, POSTGRES_SKIP_REASON, _pg_admin, make_app
from tests.factories import PASSWORD
from tests.ops.conftest import open_election
from voting.admin.services import (
    LoginBackoff,
    authenticate,
    claim_login_attempt,
    logout_everywhere,
)
from voting.db import ROOT, db, upgrade
from voting.elections.services import get_election
from voting.lifecycle.results import publish_results
from voting.lifecycle.seal import seal_board
from voting.lifecycle.tally import tally
from voting.log.models import AuditEntry

SQL = ROOT / "deploy" / "postgresql"


def psql(url: str, script: Path) -> None:
    subprocess.run(  # noqa: S603 - fixed program, no shell
        [
            shutil.which("psql") or "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-f",
            str(script),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def roles(tmp_path):
    """The guide's roles and database, under fresh names; yields (owner url, app url)."""
    if POSTGRES_SKIP_REASON:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {POSTGRES_SKIP_REASON}")
        pytest.skip(POSTGRES_SKIP_REASON)
    tag = uuid.uuid4().hex[:8]
    names = {
        "kongressval_owner": f"kvtest_owner_{tag}",
        "kongressval_app": f"kvtest_app_{tag}",
        "kongressval": f"kvtest_roles_{tag}",  # last: it is part of the other two names
    }

    def localized(name: str) -> Path:
        text = (SQL / name).read_text(encoding="utf-8")
        for old, new in names.items():
            text = text.replace(old, new)
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    server = PG_ADMIN_URL.rsplit("@", 1)[1].rsplit("/", 1)[0]
    owner_url = f"postgresql://{names['kongressval_owner']}@{server}/{names['kongressval']}"
    app_url = f"postgresql://{names['kongressval_app']}@{server}/{names['kongressval']}"
    try:
        psql(PG_ADMIN_URL, localized("roles.sql"))
        upgrade(owner_url)  # `voting db upgrade`, as the owner
        psql(owner_url, localized("grants.sql"))
        yield owner_url, app_url
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{names["kongressval"]}" WITH (FORCE)')
        _pg_admin(f'DROP ROLE IF EXISTS "{names["kongressval_app"]}"')
        _pg_admin(f'DROP ROLE IF EXISTS "{names["kongressval_owner"]}"')


def run_election_as_app(app_url: str, clock, smtp_port, tmp_path) -> None:
    """The whole election as the app role: publish, keys, links, votes, close, count, results."""
    application = make_app(app_url, clock, smtp_port, tmp_path)
    try:
        with application.app_context():
            election = open_election(application, clock, per_krets=3, base_url="http://localhost")
            client = application.test_client()
            for voter in election.voters[:2]:
                VoterClient(
                    "http://localhost", voter.token, transport=flask_transport(client)
                ).vote(election.slug, voter.contest, voter.choices)
            assert application.test_client().get("/readyz").status_code == 200
            # The close, the count and publishing, as the app role too.
            after = election.voting_closes + timedelta(minutes=2)
            with db.transaction() as s:
                item = get_election(s, election.slug)
                seal_board(s, item, after, by="cli")
                tally(s, item, "roles-test seed", after, by="cli")
                publish_results(s, item, after, by="cli")
            appended = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
            assert appended is not None
            assert appended > 2
            db.session.rollback()
    finally:
        application.extensions["db"]["engine"].dispose()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_app_role_runs_a_vote_but_cannot_rewrite_the_log(roles, clock, smtp_port, tmp_path):
    _, app_url = roles
    run_election_as_app(app_url, clock, smtp_port, tmp_path)

    with psycopg.connect(app_url, autocommit=True) as conn:
        # Appending is allowed (a log of its own here, so the election's chain stays whole).
        conn.execute(
            "INSERT INTO audit_entry (log, seq, type, body, hash) "
            "VALUES ('roles-test', 0, 'test', '{}', repeat('0', 64))"
        )
        for statement in (
            "UPDATE audit_entry SET body = body",
            "DELETE FROM audit_entry",
            "TRUNCATE audit_entry",
            "UPDATE checkpoint SET size = size",
            "DELETE FROM checkpoint",
            "TRUNCATE checkpoint",
            "UPDATE alembic_version SET version_num = version_num",
            "DELETE FROM ballot",
            "UPDATE ballot SET ballot = ballot",
            "DELETE FROM signature_issued",
            "UPDATE board_seal SET seal = seal",
            "DELETE FROM tally",
            "DELETE FROM contest_key",
            "UPDATE roll_commitment SET salt = salt",
            "DELETE FROM roll_commitment",
            "UPDATE log_key SET log = log",
            "TRUNCATE ballot",
            "CREATE TABLE intruder (id int)",
            "DROP TRIGGER audit_entry_no_change ON audit_entry",
        ):
            # Refused for want of the right (42501), before any trigger is even asked.
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_f2_a_stolen_app_password_cannot_make_the_writes_an_attacker_wants(
    roles, clock, smtp_port, tmp_path
):
    """Issue 11, F2: every write an attacker with the app's password would want is refused."""
    owner_url, app_url = roles
    run_election_as_app(app_url, clock, smtp_port, tmp_path)

    # Staff accounts are the owner's: the app role's command is refused with a hint, the
    # owner's (--owner-url) goes through. The running service still logs in and out.
    application = make_app(app_url, clock, smtp_port, tmp_path)
    try:
        with application.app_context():
            runner = application.test_cli_runner()
            create = ["admin", "create", "chef@example.org", "--role", "admin", "--password-stdin"]
            refused = runner.invoke(args=create, input=PASSWORD + "\n")
            assert refused.exit_code == 1
            assert "--owner-url" in refused.output
            made = runner.invoke(args=[*create, "--owner-url", owner_url], input=PASSWORD + "\n")
            assert made.exit_code == 0, made.output
            for args in (
                ["admin", "reset-totp", "chef@example.org"],
                ["admin", "disable", "chef@example.org"],
                ["admin", "enable", "chef@example.org"],
            ):
                assert runner.invoke(args=args).exit_code == 1
                assert runner.invoke(args=[*args, "--owner-url", owner_url]).exit_code == 0
            secret = re.search(
                r"TOTP secret: ([A-Z2-7]{32})",
                runner.invoke(
                    args=["admin", "reset-totp", "chef@example.org", "--owner-url", owner_url]
                ).output,
            ).group(1)
            now = clock()
            with db.transaction() as s:  # a wrong password is counted ...
                claim_login_attempt(s, "chef@example.org", "wrong", now, LoginBackoff())
            with db.transaction() as s:  # ... and a right one logs in and clears the count
                claim_login_attempt(s, "chef@example.org", PASSWORD, now, LoginBackoff())
                user = authenticate(
                    s, "chef@example.org", PASSWORD, pyotp.TOTP(secret).at(now), now
                )
                logout_everywhere(s, user, now)
            db.session.rollback()
    finally:
        application.extensions["db"]["engine"].dispose()

    with psycopg.connect(app_url, autocommit=True) as conn:
        # What the service needs stays allowed: revoking a link, a login's counters, the epoch.
        conn.execute(
            "UPDATE voter_link SET revoked_at = now() WHERE id = (SELECT min(id) FROM voter_link)"
        )
        conn.execute("UPDATE staff_user SET failed_logins = 0, session_epoch = session_epoch + 1")
        for statement in (
            # Point a member's link at a token the attacker knows, or at another member.
            "UPDATE voter_link SET token_hash = repeat('1', 64)",
            "UPDATE voter_link SET member_id = member_id",
            "DELETE FROM voter_link",
            # Make oneself an admin, or take over or lock out an account.
            "UPDATE staff_user SET role = 'admin'",
            "UPDATE staff_user SET password_hash = password_hash",
            "UPDATE staff_user SET totp_secret_enc = totp_secret_enc",
            "UPDATE staff_user SET disabled_at = NULL",
            "UPDATE staff_user SET email = email",
            "INSERT INTO staff_user (email, role, password_hash, totp_secret_enc, created_at) "
            "VALUES ('x@example.org', 'admin', 'x', '\\x00', now())",
            "DELETE FROM staff_user",
            "INSERT INTO staff_eid (user_id, pnr_lookup, created_at) "
            "VALUES ((SELECT min(id) FROM staff_user), repeat('0', 64), now())",
            "DELETE FROM staff_eid",
            # Change the frozen roll (roll add only inserts).
            "UPDATE roll_entry SET member_id = member_id",
            "DELETE FROM roll_entry",
            "TRUNCATE roll_entry",
            # Rewrite history, drop or change ballots, signatures, the seal, the count, the keys.
            "UPDATE audit_entry SET body = body",
            "DELETE FROM audit_entry",
            "UPDATE checkpoint SET size = size",
            "DELETE FROM checkpoint",
            "UPDATE ballot SET ballot = ballot",
            "DELETE FROM ballot",
            "UPDATE signature_issued SET blinded_hash = blinded_hash",
            "DELETE FROM signature_issued",
            "UPDATE board_seal SET seal = seal",
            "DELETE FROM board_seal",
            "UPDATE tally SET election_id = election_id",
            "DELETE FROM results_publication",
            "DELETE FROM roll_freeze",
            "UPDATE roll_commitment SET codes_hash = codes_hash",
            "UPDATE contest_key SET public_key_der = public_key_der",
            "DELETE FROM contest_key",
            "UPDATE log_key SET log = log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # The app may change an election (the schedule before the close), so a trigger
        # guards the sealed one's schedule.
        for statement in (
            "UPDATE election SET voting_closes = voting_closes + interval '1 day'",
            "UPDATE election SET voting_opens = voting_opens - interval '1 day'",
            "UPDATE election SET reminder_hours = '[1]'",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="sealed election"):
                conn.execute(statement)

    # The triggers hold even for the owner (who has every right): a mistake in the grants does
    # not open these.
    with psycopg.connect(owner_url, autocommit=True) as conn:
        for statement, message in (
            ("UPDATE voter_link SET token_hash = repeat('1', 64)", "keeps its token"),
            ("UPDATE roll_entry SET member_id = member_id", "roll is frozen"),
            ("DELETE FROM roll_entry", "roll is frozen"),
            ("UPDATE election SET voting_closes = voting_closes + interval '1 day'", "sealed"),
        ):
            with pytest.raises(psycopg.errors.RaiseException, match=message):
                conn.execute(statement)
