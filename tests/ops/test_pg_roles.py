"""The PostgreSQL roles of docs/deployment.md: the app role may append to the log, never rewrite it.

The test runs deploy/postgresql/roles.sql and grants.sql with psql, as the guide does, under
role and database names of its own (roles are shared by the whole server), and drops them after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from ballots.client import VoterClient
from tests.ballot.conftest import flask_transport
from tests.conftest import PG_ADMIN_URL, POSTGRES_SKIP_REASON, _pg_admin, make_app
from tests.ops.conftest import open_election
from voting.audit.models import AuditEntry
from voting.ballot.results import publish_results
from voting.ballot.services import seal_board
from voting.ballot.tally import tally
from voting.db import ROOT, db, upgrade
from voting.elections.services import get_election

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


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_app_role_runs_a_vote_but_cannot_rewrite_the_log(roles, clock, smtp_port, tmp_path):
    _, app_url = roles
    application = make_app(app_url, clock, smtp_port, tmp_path)
    try:
        with application.app_context():
            # The whole election as the app role: publish, keys, links, votes, checkpoints.
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
                seal_board(s, item, after)
                tally(s, item, "roles-test seed", after)
                publish_results(s, item, after)
            appended = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
            assert appended is not None
            assert appended > 2
            db.session.rollback()
    finally:
        application.extensions["db"]["engine"].dispose()

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
