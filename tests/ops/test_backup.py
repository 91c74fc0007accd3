"""``voting backup`` and the documented restore: the log still verifies, the board is unchanged."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
import uuid

import pytest
import sqlalchemy as sa

from auditlog import verify as verifier
from auditlog.entries import verify_chain
from tests.audit.test_record import SLUG, counted_election
from tests.conftest import PG_ADMIN_URL, _pg_admin, _pg_url, make_app
from tests.ops.conftest import wait_until
from voting.backup import backup, libpq_url
from voting.db import db, make_engine
from voting.log.services import append

pytestmark = pytest.mark.own_database  # gunicorn, CLI or pg_dump processes read the database


def export(application, path):
    outcome = application.test_cli_runner().invoke(
        args=["election", "export", SLUG, "-o", str(path)]
    )
    assert outcome.exit_code == 0, outcome.output
    return json.loads(path.read_text(encoding="utf-8"))


def public_board(application):
    response = application.test_client().get(f"/api/v1/elections/{SLUG}/board")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def restored_url(database_url, tmp_path):
    """Where the restore goes: a fresh database of the same backend (dropped afterwards)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"kvtest_restore_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def restore(backup_file, url):
    """The restore exactly as docs/deployment.md gives it."""
    if url.startswith("sqlite"):
        # With the app stopped: the backup is a complete database file; put it in place.
        shutil.copyfile(backup_file, url.removeprefix("sqlite:///"))
        return
    dsn, env = libpq_url(url)
    subprocess.run(  # noqa: S603 - fixed program, no shell
        [
            shutil.which("pg_restore") or "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            dsn,
            str(backup_file),
        ],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.slow
def test_backup_restores_to_a_verifying_log_and_the_same_board(
    app, clock, runner, restored_url, smtp_port, tmp_path
):
    counted_election(app, clock)
    before = export(app, tmp_path / "before.json")
    board_before = public_board(app)

    backup_file = tmp_path / "backup.dump"
    outcome = runner.invoke(args=["backup", "-o", str(backup_file)])
    assert outcome.exit_code == 0, outcome.output
    # It holds the member register and encrypted keys: readable by the service user only.
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".backup.dump.partial"))

    restore(backup_file, restored_url)
    restored = make_app(
        restored_url,
        clock,
        smtp_port,
        tmp_path / "restored",
        SECRET_KEY=app.config["SECRET_KEY"],
        DATA_KEY=app.config["DATA_KEY"],
    )
    try:
        with restored.app_context():
            after = export(restored, tmp_path / "after.json")
            assert public_board(restored) == board_before
            assert restored.test_client().get("/readyz").status_code == 200
            engine = restored.extensions["db"]["engine"]
            # The restored log is still append-only: its triggers came back with it.
            with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
                conn.execute(sa.text("UPDATE audit_entry SET body = body"))
    finally:
        restored.extensions["db"]["engine"].dispose()

    assert after == before
    checks = verifier.verify_record(after, expected_fingerprint=before["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_backup_refuses_what_it_cannot_copy(app, runner, tmp_path):
    app.config["DATABASE_URL"] = (
        f"sqlite:///{tmp_path / 'missing.db'}"
        if app.config["DATABASE_URL"].startswith("sqlite")
        else PG_ADMIN_URL.rsplit("/", 1)[0] + "/kvtest_no_such_database"
    )
    target = tmp_path / "out.bak"
    outcome = runner.invoke(args=["backup", "-o", str(target)])
    assert outcome.exit_code != 0
    assert not target.exists()
    assert not list(tmp_path.glob(".out.bak.partial"))


def _snapshot_of(url):
    """(head size, entries' bodies) of the ``busy`` log in the database at ``url``."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            size = conn.scalar(sa.text("SELECT size FROM audit_head WHERE log = 'busy'"))
            bodies = conn.scalars(
                sa.text("SELECT body FROM audit_entry WHERE log = 'busy' ORDER BY seq")
            ).all()
    finally:
        engine.dispose()
    return size or 0, bodies


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_backup_while_the_log_grows_is_one_consistent_moment(
    app, clock, database_url, restored_url, tmp_path
):
    """Appends go on during the backup; the copy holds a whole prefix that its head agrees with."""
    stop = threading.Event()
    appended = []

    def writer() -> None:
        with app.app_context():
            while not stop.is_set():
                with db.transaction() as s:
                    append(s, "busy", "test.tick", {"n": len(appended)}, clock())
                appended.append(1)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(appended) >= 20, 30, "the writer to get going")
        backup(database_url, tmp_path / "busy.bak")
        during = len(appended)
        wait_until(lambda: len(appended) >= during + 10, 30, "appends after the backup")
    finally:
        stop.set()
        thread.join(30)
    restore(tmp_path / "busy.bak", restored_url)
    size, bodies = _snapshot_of(restored_url)
    assert 20 <= size < len(appended)
    assert len(bodies) == size  # no entry without its head, no head without its entries
    chain = verify_chain(body.encode() for body in bodies)
    assert chain[-1].hash == _head_hash(restored_url)


def _head_hash(url):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT head_hash FROM audit_head WHERE log = 'busy'"))
    finally:
        engine.dispose()
