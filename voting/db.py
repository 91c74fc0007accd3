"""The database: declarative base, shared column types, per-app-context sessions, migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
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


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


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


class Database:
    """Binds one engine to the app and one session to each app context."""

    def init_app(self, app: Flask) -> None:
        url = app.config.get("DATABASE_URL") or f"sqlite:///{Path(app.instance_path) / 'voting.db'}"
        app.config["DATABASE_URL"] = url
        engine = make_engine(url)
        app.extensions["db"] = {"engine": engine, "sessionmaker": sessionmaker(engine)}
        # Each request ends its session, even when an outer app context lives on (as in tests).
        app.teardown_request(self._close)
        app.teardown_appcontext(self._close)

    @property
    def engine(self) -> Engine:
        return current_app.extensions["db"]["engine"]  # type: ignore[no-any-return]

    @property
    def session(self) -> Session:
        """The session of the current app context; the view or command commits it."""
        if "db_session" not in g:
            g.db_session = current_app.extensions["db"]["sessionmaker"]()
        return g.db_session  # type: ignore[no-any-return]

    @staticmethod
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is None:
            return
        try:
            session.close()  # rolls back whatever was not committed
        except (sa.exc.OperationalError, sa.exc.InterfaceError):
            # The connection died under us (the database restarted): the answer is already
            # made, so drop the connection rather than fail the request; the pool opens another.
            session.invalidate()

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
