"""The database: declarative base, shared column types, per-app-context sessions, migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column, sessionmaker

ROOT = Path(__file__).resolve().parent.parent  # the checkout (site-packages when installed)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend; naive datetimes are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite has no timezone type: store naive UTC there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTCTime = Annotated[datetime, mapped_column(UTCDateTime())]
IntPK = Annotated[int, mapped_column(sa.Integer, primary_key=True)]
# The largest IntPK: PostgreSQL's INTEGER is 32 bits (SQLite's 64). A larger id from a URL
# would be a driver error, not "no such row".
MAX_ID = 2**31 - 1


def parse_id(text: str) -> int | None:
    """``text`` as a row id if it is ASCII digits within MAX_ID, else None."""
    # Why ASCII only: str.isdigit() is true for "²", which int() refuses.
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


_Row = TypeVar("_Row")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


def insert_for(session: Session) -> Any:
    """The dialect's own ``insert`` (PostgreSQL's or SQLite's), for ON CONFLICT clauses."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def lock_row(session: Session, model: type[_Row], key: object) -> _Row:
    """The row ``key`` of ``model``, locked FOR UPDATE until the transaction ends and read
    afresh (SQLite ignores the lock: ``BEGIN IMMEDIATE`` already serializes its writers)."""
    row = session.get(model, key, with_for_update=True, populate_existing=True)
    if row is None:
        raise LookupError(f"no {model.__name__} {key!r}")
    return row


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and serialized writes."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below own the transaction
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Why IMMEDIATE: a deferred transaction that reads and then writes can fail with
            # "database is locked" under concurrency; taking the write lock up front makes
            # SQLite serialize writers instead, which is what the invariants rely on.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # Why pre-ping and a connect timeout: after a database restart the pool's connections are
    # dead; each is tested before use and replaced, and a server that does not answer makes a
    # request fail (503) in seconds instead of holding a worker until gunicorn kills it.
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


# Errors that mean "the database is not there right now", as opposed to a bug or a refused write.
OUTAGE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
# SQLAlchemy's code for "this connection was invalidated (lost) inside a transaction".
CONNECTION_INVALIDATED = "8s2b"
_LOST = "db_connection_lost"


def _note_lost_connection(context: ExceptionContext) -> None:
    # A failed pre-ping is not noted: the pool replaces that connection before anyone uses it.
    if context.is_disconnect and not context.is_pre_ping and has_app_context():
        g.setdefault(_LOST, True)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached now, not a bug or a refused write."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    if isinstance(exc, sa.exc.DBAPIError):  # any driver error that cost the connection
        return exc.connection_invalidated
    if isinstance(exc, sa.exc.PendingRollbackError):
        # Why not every PendingRollbackError: after a failed write that some code swallowed, it
        # is a bug, and a 503 would have clients repeat it forever. It is an outage when the
        # connection was lost in a transaction, or this request lost one before it.
        return exc.code == CONNECTION_INVALIDATED or bool(has_app_context() and g.get(_LOST))
    return False


class Database:
    """Binds one engine to the app and one session to each app context."""

    def init_app(self, app: Flask) -> None:
        url = app.config.get("DATABASE_URL") or f"sqlite:///{Path(app.instance_path) / 'voting.db'}"
        app.config["DATABASE_URL"] = url
        connection = app.config.get("TESTING_DB_CONNECTION")
        if app.testing and isinstance(connection, sa.Connection):
            # Test-only seam: the suite's shared database. Sessions join the connection's outer
            # transaction, which the test rolls back; a commit only releases a savepoint.
            engine = connection.engine
            factory = sessionmaker(connection, join_transaction_mode="create_savepoint")
        else:
            engine = make_engine(url)
            factory = sessionmaker(engine)
        if not event.contains(engine, "handle_error", _note_lost_connection):
            event.listen(engine, "handle_error", _note_lost_connection)
        app.extensions["db"] = {"engine": engine, "sessionmaker": factory}
        # Each request ends its session, even when an outer app context lives on (as in tests).
        app.teardown_request(self._close)
        app.teardown_appcontext(self._close)

    @property
    def engine(self) -> Engine:
        return current_app.extensions["db"]["engine"]

    @property
    def session(self) -> Session:
        """The session of the current app context; the view or command commits it."""
        if "db_session" not in g:
            g.db_session = current_app.extensions["db"]["sessionmaker"]()
        return g.db_session

    def remove(self) -> None:
        """End the app context's session: roll back what was not committed, release the
        connection, and drop it if it is broken. The next use opens a fresh session."""
        g.pop(_LOST, None)
        session = g.pop("db_session", None)
        if session is None:
            return
        try:
            session.close()  # rolls back whatever was not committed
        except sa.exc.SQLAlchemyError:
            # The connection died under us (the database restarted): the answer is made or
            # about to be, so drop the connection rather than fail it; the pool opens another.
            session.invalidate()

    def _close(self, _exc: BaseException | None) -> None:
        self.remove()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: committed whole, or rolled back whole on any error."""
        session = self.session
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


db = Database()

# Not VOTING_*: the app loads every VOTING_* variable into its configuration.
OWNER_URL_ENV = "KONGRESSVAL_OWNER_DATABASE_URL"
"""The owner role's database URL, for the few commands the app role may not run (PostgreSQL)."""


@contextmanager
def owner_transaction(owner_url: str | None) -> Iterator[Session]:
    """A unit of work as the tables' owner when ``owner_url`` is given, else as the app."""
    # Why a connection of its own: the owner's URL is never part of the app's configuration,
    # so the service never holds the rights that these commands need (docs/deployment.md).
    if not owner_url:
        with db.transaction() as session:
            yield session
        return
    engine = make_engine(owner_url)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


def refused_for_rights(exc: sa.exc.DBAPIError) -> bool:
    """Whether the database refused a statement for want of a privilege (SQLSTATE 42501)."""
    return getattr(exc.orig, "sqlstate", None) == "42501"


def upgrade(url: str, revision: str = "head") -> None:
    """Run the Alembic migrations against ``url``."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()
