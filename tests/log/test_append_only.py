"""The audit log chains its entries and the database refuses to change them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog import verify_chain
from voting.log.models import AuditEntry
from voting.log.services import append, entries

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_entries_chain_and_verify(db_session):
    for i in range(5):
        append(db_session, "demo", "test.event", {"i": i}, NOW)
    db_session.commit()
    rows = entries(db_session, "demo")
    checked = verify_chain(row.body.encode() for row in rows)
    assert [e.hash for e in checked] == [row.hash for row in rows]
    assert [row.seq for row in rows] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_entry SET type = 'x'", "DELETE FROM audit_entry"],
)
def test_database_refuses_update_and_delete(engine, db_session, statement):
    append(db_session, "demo", "test.event", {"i": 1}, NOW)
    db_session.commit()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_entry").scalar() == 1


def test_concurrent_appends_keep_one_chain(app, engine):
    """Real threads appending to one log at once must still produce one unbroken chain."""
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                with Session(engine) as session, session.begin():
                    append(session, "race", "test.event", {"worker": n, "i": i}, NOW)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as session:
        rows = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.log == "race").order_by(AuditEntry.seq)
            )
        )
    assert len(rows) == 40
    verify_chain(row.body.encode() for row in rows)


@pytest.mark.parametrize(
    "statement", ["UPDATE checkpoint SET reason = 'x'", "DELETE FROM checkpoint"]
)
def test_database_refuses_to_change_checkpoints(engine, db_session, statement):
    from voting.log.checkpoints import write_checkpoint

    append(db_session, "demo", "test.event", {"i": 1}, NOW)
    write_checkpoint(db_session, "demo", "localhost", NOW, "test")
    db_session.commit()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
