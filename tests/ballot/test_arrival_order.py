"""The database keeps no arrival order that could pair a ballot with a signature (SECURITY.md).

Members sign and cast within seconds, so any order that both ``signature_issued`` and ``ballot``
keep (a serial id, a time to the microsecond, SQLite's hidden rowid, PostgreSQL's heap order and
``xmin``) pairs each ballot with a voter's pseudonym. The tests let members sign in the reverse
of the signature table's key order and cast in the reverse of the ballot table's key order, so
that arrival order and key order can always be told apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import voting.models  # noqa: F401  (every table on Base.metadata, as the migrations see them)
from voting.ballot.models import SignatureIssued
from voting.crypto import pseudonym
from voting.db import ROOT, Base, db
from voting.elections.services import get_election
from voting.lifecycle.cli import (
    CLUSTER_IN_KEY_ORDER,
    OWNER_URL_ENV,
    REWRITE_IN_ONE_TRANSACTION,
    board_compact,
)
from voting.lifecycle.seal import seal_board

from .conftest import AFTER

pytestmark = pytest.mark.own_database  # reads the SQLite file and runs VACUUM on other connections

CHOICES = {"SODERMALM": slice(0, 2), "BROMMA": slice(0, 1)}


@dataclass
class Arrival:
    signatures: list[tuple[int, str]]  # (contest, pseudonym), in the order they were signed
    ballots: list[str]  # ballot hashes, in the order they were cast


def sign_and_cast(voting, voter_client, krets_members) -> Arrival:
    """Every member signs, in reverse key order; then every ballot is cast, in reverse key order."""
    members = [(krets, m) for krets, ms in krets_members.items() for m in ms]
    key = {m: (int(voting.contests[krets]), pseudonym(m, voting.slug)) for krets, m in members}
    members.sort(key=lambda km: key[km[1]], reverse=True)
    signed = [
        voter_client(voting.tokens[m]).sign_ballot(
            voting.slug, voting.contests[krets], voting.candidates[krets][CHOICES[krets]]
        )
        for krets, m in members
    ]
    signed.sort(key=lambda ballot: ballot.ballot_hash, reverse=True)
    for ballot in signed:
        voter_client(None).cast(ballot, election=voting.slug)
    arrival = Arrival([key[m] for _, m in members], [b.ballot_hash for b in signed])
    assert arrival.signatures != sorted(arrival.signatures)
    assert arrival.ballots != sorted(arrival.ballots)
    db.session.rollback()
    return arrival


def rows(sql: str) -> list[tuple]:
    return [tuple(row) for row in db.session.execute(sa.text(sql))]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_keeps_ballots_and_signatures_in_key_order_not_arrival(
    voting, voter_client, krets_members
):
    arrival = sign_and_cast(voting, voter_client, krets_members)
    for table in ("ballot", "signature_issued"):
        with pytest.raises(sa.exc.OperationalError, match="rowid"):
            db.session.execute(sa.text(f"SELECT rowid FROM {table}"))  # noqa: S608
        db.session.rollback()
        sql = db.session.scalar(
            sa.text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}
        )
        assert sql.rstrip().endswith("WITHOUT ROWID")
    # A plain scan, as a copy or a dump of the file would read it: the key's order.
    ballots = [row[0] for row in rows("SELECT ballot_hash, ballot, signature FROM ballot")]
    assert ballots == sorted(arrival.ballots)
    issued = [(int(c), v) for c, v, *_ in rows("SELECT contest_id, voter, * FROM signature_issued")]
    assert issued == sorted(arrival.signatures)


def test_signature_issued_keeps_no_id_and_no_time_finer_than_a_day(app):
    inspector = sa.inspect(db.engine)
    columns = {c["name"]: c["type"] for c in inspector.get_columns("signature_issued")}
    assert set(columns) == {"contest_id", "voter", "blinded_hash", "issued_on"}
    pk = inspector.get_pk_constraint("signature_issued")["constrained_columns"]
    assert pk == ["contest_id", "voter"]
    ballot_columns = {c["name"]: c["type"] for c in inspector.get_columns("ballot")}
    assert set(ballot_columns) == {"ballot_hash", "contest_id", "ballot", "msg_prefix", "signature"}
    assert inspector.get_pk_constraint("ballot")["constrained_columns"] == ["ballot_hash"]
    for name, type_ in [*columns.items(), *ballot_columns.items()]:
        assert not isinstance(type_, sa.DateTime | sa.Time | sa.Interval), name
    assert isinstance(columns["issued_on"], sa.Date)
    if db.engine.dialect.name == "postgresql":
        sequences = inspector.get_sequence_names()
        assert not [s for s in sequences if s.startswith(("signature_issued", "ballot"))]


def test_voter_api_and_page_show_the_day_in_the_elections_timezone(
    client, voting, voter_client, clock
):
    clock.set(datetime(2027, 1, 15, 23, 30, tzinfo=UTC))  # 00:30 on the 16th in Stockholm
    voter = voter_client(voting.tokens["B1"])
    assert voter.voter()["signature_issued_at"] is None
    voter.vote(voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][:1])
    assert voter.voter()["signature_issued_at"] == "2027-01-16"
    assert db.session.scalars(sa.select(SignatureIssued.issued_on)).all() == [date(2027, 1, 16)]
    db.session.rollback()
    assert client.get(f"/rosta/{voting.tokens['B1']}").status_code == 302
    page = client.get("/rosta").get_data(as_text=True)
    notice = re.search(r'<div class="notice" id="issued-notice">(.*?)</div>', page, re.S)
    assert notice is not None
    assert "Du har röstat den 16 januari 2027." in notice.group(1)
    assert not re.search(r"\d\d:\d\d", notice.group(1))  # no time of day


def test_models_and_migrations_agree(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def _rewrite_script() -> str:
    """The after-the-seal SQL of docs/deployment.md, shown for reference to the operator."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    found = re.search(r"<<'SQL'\n(.*?CLUSTER ballot.*?)\nSQL\n", text, re.S)
    assert found is not None, "docs/deployment.md: the after-the-seal SQL block is missing"
    return found.group(1)


def test_the_documented_sql_is_what_board_compact_runs():
    lines = [line.split("--", 1)[0] for line in _rewrite_script().splitlines()]
    statements = [" ".join(s.split()) for s in " ".join(lines).split(";") if s.strip()]
    assert statements == [
        "BEGIN",
        *REWRITE_IN_ONE_TRANSACTION,
        "COMMIT",
        *CLUSTER_IN_KEY_ORDER,
    ]


def seal(client, voting, clock) -> dict:
    clock.set(AFTER)
    with db.transaction() as s:
        seal_board(s, get_election(s, voting.slug), AFTER, by="cli")
    board = client.get(f"/api/v1/elections/{voting.slug}/board").get_json()
    db.session.rollback()
    db.session.close()
    return board


def record(client, voting) -> tuple:
    """What the compaction must not change: the board and the election's log."""
    board = client.get(f"/api/v1/elections/{voting.slug}/board").get_json()
    log = rows("SELECT * FROM audit_entry ORDER BY 1")
    db.session.rollback()
    return board, log


# The test database is used by a superuser, who may UPDATE and CLUSTER the tables as their
# owner would: the app's own URL stands in for the owner's (tests/ops/test_pg_roles.py has the
# two real roles).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_keeps_arrival_order_until_board_compact(
    client, runner, database_url, voting, voter_client, krets_members, clock, monkeypatch
):
    monkeypatch.delenv(OWNER_URL_ENV, raising=False)
    arrival = sign_and_cast(voting, voter_client, krets_members)
    issued_sql = "SELECT contest_id, voter FROM signature_issued"
    # What a copy taken during voting shows (SECURITY.md): heap order and xmin are arrival order.
    assert [r[0] for r in rows("SELECT ballot_hash FROM ballot ORDER BY ctid")] == arrival.ballots
    assert [
        r[0] for r in rows("SELECT ballot_hash FROM ballot ORDER BY xmin::text::bigint")
    ] == arrival.ballots
    assert rows(f"{issued_sql} ORDER BY ctid") == arrival.signatures
    assert rows(f"{issued_sql} ORDER BY xmin::text::bigint") == arrival.signatures
    db.session.rollback()

    early = runner.invoke(board_compact, [voting.slug, "--owner-url", database_url])
    assert early.exit_code == 1
    assert "not sealed" in early.output
    assert rows(f"{issued_sql} ORDER BY ctid") == arrival.signatures  # nothing was touched
    db.session.rollback()

    seal(client, voting, clock)
    before = record(client, voting)
    db.session.close()
    no_owner = runner.invoke(board_compact, [voting.slug])
    assert no_owner.exit_code == 1
    assert OWNER_URL_ENV in no_owner.output
    assert "--owner-url" in no_owner.output
    assert "app role may not UPDATE" in no_owner.output
    assert rows(f"{issued_sql} ORDER BY ctid") == arrival.signatures
    db.session.rollback()
    db.session.close()

    # As an operator writes it: a plain postgresql:// URL (the command picks the driver).
    monkeypatch.setenv(
        OWNER_URL_ENV, database_url.replace("postgresql+psycopg://", "postgresql://")
    )
    result = runner.invoke(board_compact, [voting.slug])
    assert result.exit_code == 0, result.output
    assert "rewritten in key order (PostgreSQL)" in result.output
    assert database_url not in result.output

    assert [r[0] for r in rows("SELECT ballot_hash FROM ballot ORDER BY ctid")] == sorted(
        arrival.ballots
    )
    assert rows(f"{issued_sql} ORDER BY ctid") == sorted(arrival.signatures)
    for table in ("ballot", "signature_issued"):
        assert db.session.scalar(sa.text(f"SELECT count(DISTINCT xmin::text) FROM {table}")) == 1  # noqa: S608
    db.session.rollback()
    assert record(client, voting) == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_board_compact_vacuums_after_the_seal(
    client, runner, voting, voter_client, krets_members, clock, monkeypatch
):
    monkeypatch.delenv(OWNER_URL_ENV, raising=False)
    arrival = sign_and_cast(voting, voter_client, krets_members)
    db.session.close()
    early = runner.invoke(board_compact, [voting.slug])
    assert early.exit_code == 1
    assert "not sealed" in early.output

    seal(client, voting, clock)
    before = record(client, voting)
    # Free pages, which only a VACUUM gives back: a scratch table filled and dropped.
    with db.transaction() as s:
        s.execute(sa.text("CREATE TABLE scratch (x BLOB)"))
        s.execute(sa.text("INSERT INTO scratch VALUES (zeroblob(200000))"))
        s.execute(sa.text("DROP TABLE scratch"))
    assert db.session.scalar(sa.text("PRAGMA freelist_count")) > 0
    db.session.rollback()
    db.session.close()

    result = runner.invoke(board_compact, [voting.slug])
    assert result.exit_code == 0, result.output
    assert "SQLite VACUUM" in result.output
    assert db.session.scalar(sa.text("PRAGMA freelist_count")) == 0
    ballots = [row[0] for row in rows("SELECT ballot_hash, ballot, signature FROM ballot")]
    assert ballots == sorted(arrival.ballots)
    db.session.rollback()
    assert record(client, voting) == before
