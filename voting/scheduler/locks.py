"""The one-runner lock: a PostgreSQL advisory lock, or a file lock next to the SQLite file.

Both are released by the operating system or the database server when the process dies,
however it dies, so a killed runner never leaves a stale lock behind.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from voting.db import make_engine
from voting.errors import OperationalError

# A fixed 64-bit key: advisory locks are per database, so one key serves every deployment.
ADVISORY_KEY = int.from_bytes(
    hashlib.sha256(b"kongressval:scheduler").digest()[:8], "big", signed=True
)


class LockError(OperationalError):
    """The database URL gives nothing to lock on (an in-memory SQLite database, say)."""


class RunnerLock(Protocol):
    description: str

    def acquire(self) -> bool:
        """Take the lock if free; never waits. True if this process now holds it."""

    def held(self) -> bool:
        """Whether this process still holds the lock."""

    def release(self) -> None:
        """Let go of the lock (a no-op when not held)."""


class PostgresLock:
    """A session-level ``pg_try_advisory_lock`` on a connection kept for the runner's lifetime."""

    def __init__(self, url: str) -> None:
        # Why a pool-less engine of its own: the lock lives exactly as long as this connection,
        # which must never be handed to other work or recycled by a pool.
        base = make_engine(url)
        self.engine = sa.create_engine(base.url, poolclass=NullPool)
        base.dispose()
        self.connection: Connection | None = None
        self.description = f"PostgreSQL advisory lock {ADVISORY_KEY} on {base.url.database}"

    def acquire(self) -> bool:
        if self.held():
            return True
        self.release()
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = bool(
                connection.execute(
                    sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
                ).scalar()
            )
        except BaseException:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self.connection = connection
        return True

    def held(self) -> bool:
        if self.connection is None:
            return False
        try:
            self.connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            # The connection died (a database restart): the server dropped the lock with it.
            self.release()
            return False
        return True

    def release(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
        except sa.exc.SQLAlchemyError:
            pass  # a dead connection holds no lock
        finally:
            connection.close()


class SqliteFileLock:
    """An exclusive ``filelock`` on ``<database file>.scheduler.lock``."""

    def __init__(self, database: str) -> None:
        self.path = Path(database + ".scheduler.lock")
        self.lock = FileLock(str(self.path), thread_local=False)
        self.description = f"file lock {self.path}"

    def acquire(self) -> bool:
        if self.lock.is_locked:
            return True
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def held(self) -> bool:
        return self.lock.is_locked

    def release(self) -> None:
        if self.lock.is_locked:
            self.lock.release(force=True)


def runner_lock(database_url: str) -> RunnerLock:
    """The lock that fits the database behind ``database_url``."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLock(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise LockError("an in-memory SQLite database has no file to lock next to")
        return SqliteFileLock(url.database)
    raise LockError(f"no scheduler lock for the {url.get_backend_name()} backend")
