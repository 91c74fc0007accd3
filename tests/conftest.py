"""Shared fixtures: the database on SQLite and PostgreSQL; a real SMTP server.

Every test that uses ``app`` runs once per backend. PostgreSQL is used when it can be reached
(``TEST_DATABASE_URL``, else a local server on 127.0.0.1:5432); with ``REQUIRE_POSTGRES=1`` its
absence fails the run instead of skipping.

Most tests share one migrated database per backend (per xdist worker): each runs inside an outer
transaction on one connection that is rolled back at its end, and the app's sessions join it
with savepoints, so the app's commits only release a savepoint. A test gets a fresh database of
its own when it is marked ``own_database`` or uses ``database_url`` (directly or through
``engine``, ``live_app``/``live_server`` or another fixture): it needs one when it uses several
connections (threads, locks, triggers seen from another connection), a subprocess, or the live
server's thread. The shared connection refuses use from another thread, and the run fails if the
shared database holds other rows at the end than after the migrations. ``KVTEST_OWN_DATABASE=1``
gives every test a database of its own, as before, to tell a sharing problem from a real one.

Five things keep the suite's CPU down without changing what a test checks (docs/benchmarks.md
has the figures): each template and each URL rule is compiled once per process rather than once
per app (``TEMPLATE_CODE``, ``_cached_url_rules``), staff passwords are hashed with argon2id's
cheapest parameters (as Django advises for tests; tests/admin/test_accounts.py checks the
production parameters), the garbage collector leaves the long-lived objects of the collection
alone, and the long tests (mypy, the wheel, those marked ``slow``) start first so that no worker
runs one alone at the end.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import gc
import os
import secrets
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

import voting.admin.services
from voting import create_app
from voting.db import make_engine, upgrade

PRODUCTION_PASSWORD_HASHER = voting.admin.services.PASSWORD_HASHER
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_reason() -> str | None:
    """None when PostgreSQL can be used, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}"
    return None


POSTGRES_SKIP_REASON = _postgres_reason()


def pytest_report_header(config: pytest.Config) -> list[str]:
    backends = ["sqlite"] + ([] if POSTGRES_SKIP_REASON else ["postgresql"])
    lines = [f"database backends: {', '.join(backends)}"]
    if POSTGRES_SKIP_REASON:
        lines.append(f"postgresql skipped: {POSTGRES_SKIP_REASON}")
    browser_reason = _browser_skip_reason()
    lines.append(f"browser tests: {'skipped: ' + browser_reason if browser_reason else CHROMIUM}")
    return lines


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    if POSTGRES_SKIP_REASON:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {POSTGRES_SKIP_REASON}")
        pytest.skip(POSTGRES_SKIP_REASON)
    name = f"kvtest_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        upgrade(_pg_url(name))
        yield name
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class SharedDatabase:
    """A backend's shared database and the row count of each table as migrated."""

    url: str
    engine: sa.Engine
    rows: dict[str, int]


def _row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            for name in sa.inspect(conn).get_table_names()
        }


@pytest.fixture(scope="session")
def _shared_databases() -> Iterator[dict[str, SharedDatabase]]:
    """One migrated database per backend for this run (this worker), made when first needed.

    At the end each table must hold what it held after the migrations: a test that wrote to it
    outside the rolled-back outer transaction (from a connection of its own) needed its own.
    """
    made: dict[str, SharedDatabase] = {}
    yield made
    leaked = []
    for backend, shared in made.items():
        rows = _row_counts(shared.engine)
        shared.engine.dispose()
        if shared.url.startswith("postgresql"):
            _pg_admin(f'DROP DATABASE IF EXISTS "{shared.url.rsplit("/", 1)[1]}" WITH (FORCE)')
        leaked += [f"{backend} {t}" for t in rows if rows[t] != shared.rows.get(t)]
    if leaked:
        pytest.fail(
            f"rows were left in the shared test database ({', '.join(leaked)}): "
            "a test committed from a connection of its own; mark it own_database"
        )


def _shared_url(
    backend: str, request: pytest.FixtureRequest, shared: dict[str, SharedDatabase]
) -> str:
    if backend not in shared:
        if backend == "sqlite":
            factory = request.getfixturevalue("tmp_path_factory")
            path = factory.mktemp("sqlite-shared") / "shared.db"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            url = f"sqlite:///{path}"
        else:
            template = request.getfixturevalue("postgres_template")
            name = f"kvtest_shared_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            url = _pg_url(name)
        engine = make_engine(url)
        sa.event.listen(engine, "before_cursor_execute", _one_thread_only)
        shared[backend] = SharedDatabase(url, engine, _row_counts(engine))
    return shared[backend].url


# The fixtures that make the test's app with ``app_on``, which puts it on the shared database.
APP_FIXTURES = ("app", "eid_app", "rogue_app")

# Started first: each keeps one worker busy on its own for up to a minute of CPU.
FIRST = ("tests/test_lint.py", "tests/test_packaging.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``own_database`` every test that uses ``database_url`` other than through an app
    fixture (``APP_FIXTURES``); put the tests in ``FIRST`` first, then the ones marked ``slow``
    (a stable sort: the rest keep their order), so that the long ones do not end the run with one
    worker busy and the others idle."""
    items.sort(
        key=lambda item: (
            not item.nodeid.startswith(FIRST),
            item.get_closest_marker("slow") is None,
        )
    )
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None or "database_url" not in info.names_closure:
            continue
        users = [
            name
            for name, defs in info.name2fixturedefs.items()
            if name not in APP_FIXTURES and "database_url" in defs[-1].argnames
        ]
        if users or "database_url" in info.argnames:
            item.add_marker(pytest.mark.own_database)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Why: every test builds an app (Werkzeug compiles each URL rule to Python code), and the
    collector's full passes over everything imported and collected cost a seventh of the CPU.
    Frozen objects are never scanned; the thresholds make the youngest generation's passes rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


@pytest.fixture(scope="session", autouse=True)
def _cached_url_rules() -> Iterator[None]:
    """Compile each URL rule once per process, not once per app.

    Why: every test creates an app, and most of ``create_app``'s time (about 30 ms of 34) is
    Werkzeug parsing the 80 rules and generating and compiling Python code for their builders.
    What ``Rule.compile`` makes (the parsed parts, the converters, the arguments, the builders,
    nothing else: tests/test_suite_caches.py checks) depends only on what the key holds, so a
    rule gets the same state it would have made; the apps' maps are still built, and URLs matched
    and built, as in production.
    """
    compile_rule = Rule.compile
    compiled: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def cached(self: Rule) -> None:
        assert self.map is not None
        key = (
            type(self),
            self.rule,
            self.subdomain,
            self.host,
            self.merge_slashes,
            self.map.host_matching,
            tuple(self.map.converters.items()),
            repr(sorted((self.defaults or {}).items())),
        )
        if key not in compiled:
            compile_rule(self)
            compiled[key] = (
                self._parts,
                self._trace,
                self._converters,
                frozenset(self.arguments),
                self._build.__func__,
                self._build_unknown.__func__,
            )
            return
        parts, trace, converters, arguments, build, build_unknown = compiled[key]
        self._parts, self._trace, self._converters = parts, trace, converters
        self.arguments = set(arguments)
        self._build = build.__get__(self, None)
        self._build_unknown = build_unknown.__get__(self, None)

    cached.uncached = compile_rule  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "compile", cached)
        yield


@pytest.fixture(scope="session", autouse=True)
def _quick_password_hashes() -> Iterator[None]:
    """argon2id at the cheapest cost for the staff accounts tests make (see the docstring)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            voting.admin.services,
            "PASSWORD_HASHER",
            PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
        )
        yield


@pytest.fixture
def production_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test of the hashes themselves: argon2id at the cost production uses."""
    monkeypatch.setattr(voting.admin.services, "PASSWORD_HASHER", PRODUCTION_PASSWORD_HASHER)


def uses_own_database(request: pytest.FixtureRequest) -> bool:
    """Whether the test gets a fresh database of its own (see the module's docstring)."""
    return (
        os.environ.get("KVTEST_OWN_DATABASE") == "1"  # the old way for every test, to compare
        or request.node.get_closest_marker("own_database") is not None
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _shared_databases: dict[str, SharedDatabase],
) -> Iterator[str]:
    """The database of each backend: the shared one, or a freshly migrated, empty one of the
    test's own (dropped after it) when the test is marked ``own_database``."""
    if not uses_own_database(request):
        yield _shared_url(request.param, request, _shared_databases)
        return
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"kvtest_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _one_thread_only(connection: sa.Connection, *_args: Any) -> None:
    """Refuse a shared connection's use from a second thread, which would interleave badly."""
    owner = connection.info.get("kvtest_thread")
    if owner is not None and owner != threading.get_ident():
        raise RuntimeError(
            "the shared test database's connection was used from another thread: "
            "mark the test @pytest.mark.own_database"
        )


@pytest.fixture
def _shared_connection(
    database_url: str, _shared_databases: dict[str, SharedDatabase]
) -> Iterator[sa.Connection]:
    """A connection to the shared database in an outer transaction, rolled back after the test."""
    engine = next(d.engine for d in _shared_databases.values() if d.url == database_url)
    connection = engine.connect()
    connection.info["kvtest_thread"] = threading.get_ident()
    outer = connection.begin()
    try:
        yield connection
    finally:
        ended = False
        with contextlib.suppress(Exception):
            connection.info.pop("kvtest_thread", None)
        if not (connection.invalidated or connection.closed):  # else lost: the server rolled back
            ended = not outer.is_active
            if ended:
                connection.invalidate()
            else:
                outer.rollback()
        connection.close()
        if ended:
            pytest.fail(
                "the test ended the shared database's outer transaction: mark it own_database"
            )


def _reset_process_caches() -> None:
    """Forget the per-process caches: on the shared database, ids and URLs come back."""
    from voting.ballot import codes, services
    from voting.log import keys

    services._MANIFESTS.clear()
    services._SIGNERS.clear()
    services._CANDIDATE_IDS.clear()
    codes._PUBLISHED.clear()
    keys._PRIVATE.clear()


@pytest.fixture(scope="session")
def rsa_keys() -> list[Any]:
    """Two 2048-bit contest keys made once: key generation is too slow to repeat per test."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


@dataclass
class Clock:
    """A settable clock handed to the app as its CLOCK."""

    moment: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("give the test clock an aware datetime")
        self.moment = moment


@pytest.fixture
def clock() -> Clock:
    return Clock()


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.reject: set[str] = set()
        self._lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:  # noqa: N802, E501
        if address in self.reject:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages addressed to ``address``."""
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.reject.clear()


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture
def smtp(_smtp_server: SmtpSink) -> Iterator[SmtpSink]:
    _smtp_server.clear()
    yield _smtp_server
    _smtp_server.clear()


def new_data_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


class _TemplateCode(BytecodeCache):
    """Compiled templates kept in memory and shared by every app of this process.

    Why: each test's app has a Jinja environment of its own, which lexes, parses and compiles
    every template it renders afresh: more than a quarter of the suite's CPU. Every app is made
    by ``create_app`` with the same Jinja settings, so the code is the same; Jinja checks each
    entry against a checksum of the template's source.
    """

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = _TemplateCode()


def make_app(
    database_url: str, clock: Clock, smtp_port: int, tmp_path: Path, **extra: Any
) -> Flask:
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATA_KEY": new_data_key(),
        "DATABASE_URL": database_url,
        "CLOCK": clock,
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "BASE_URL": "http://localhost",
        "SERVER_NAME": "localhost",
        "CONTEST_KEY_BITS": 2048,  # 3072-bit keys take seconds to make; the code path is the same
    }
    config.update(extra)
    app = create_app(config, instance_path=str(tmp_path / "instance"))
    app.jinja_env.bytecode_cache = TEMPLATE_CODE
    return app


@contextlib.contextmanager
def app_on(
    request: pytest.FixtureRequest,
    database_url: str,
    clock: Clock,
    smtp_port: int,
    tmp_path: Path,
    **extra: Any,
) -> Iterator[Flask]:
    """The test's app, in its app context: on the shared database it joins the test's outer
    transaction; on a database of the test's own it has its own engine, disposed after."""
    _reset_process_caches()
    shared = any(
        d.url == database_url for d in request.getfixturevalue("_shared_databases").values()
    )
    if shared:
        extra["TESTING_DB_CONNECTION"] = request.getfixturevalue("_shared_connection")
    application = make_app(database_url, clock, smtp_port, tmp_path, **extra)
    with application.app_context():
        yield application
    if not shared:
        application.extensions["db"]["engine"].dispose()
    _reset_process_caches()


@pytest.fixture
def app(
    database_url: str,
    clock: Clock,
    _smtp_server: SmtpSink,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Flask]:
    with app_on(request, database_url, clock, _smtp_server.port, tmp_path) as application:
        yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    """A session on the test's own database; whatever it leaves is dropped with the database."""
    session = app.extensions["db"]["sessionmaker"]()
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def login_as(client: FlaskClient, clock: Clock) -> Any:
    """Log the test client in as a fresh staff user of ``role``; returns the user's id.

    It puts the login into the session cookie as the login view does, skipping two argon2id
    hashes per test; the real form is tested in tests/admin/test_login_web.py.
    """
    from types import SimpleNamespace

    from tests.factories import make_staff_quick
    from voting.admin.services import start_session
    from voting.db import db

    def _login(role: str) -> int:
        with db.transaction() as s:
            uid = make_staff_quick(s, role, clock()).id
        # Outside the transaction: the cookie's request context ends the app's db session.
        with client.session_transaction() as cookie:
            start_session(cookie, SimpleNamespace(id=uid, session_epoch=0), clock())
        return uid

    return _login


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


# --- Browser tests -------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _browser_skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is not installed (scripts/test installs Debian's chromium when it can)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not installed: {exc}"
    return None


@pytest.fixture(scope="session")
def _playwright_browser() -> Iterator[Any]:
    reason = _browser_skip_reason()
    if reason:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser(_playwright_browser: Any) -> Iterator[Any]:
    """A fresh headless Chromium context (own cookies and storage) for one test."""
    context = _playwright_browser.new_context(locale="sv-SE")
    context.set_default_timeout(15_000)
    yield context
    context.close()


def _closed_before_sending(app: Any) -> Any:
    """Read each response whole and close it before werkzeug's dev server writes it.

    When a browser drops a connection mid-response (it does, on navigation), werkzeug's
    server raises out of its cleanup before it closes the response, and a static file's handle
    is left to the garbage collector: an unraisable ResourceWarning in whichever test runs
    next. Closing first makes that impossible; the pages are small.
    """

    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        response = app(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            if hasattr(response, "close"):
                response.close()

    return wsgi


class LiveServer:
    """The app served over real HTTP on loopback, in a thread."""

    def __init__(self, app: Flask, port: int = 0) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", port, _closed_before_sending(app), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        app.config["BASE_URL"] = self.url
        # Why the short poll: shutdown() waits for serve_forever's next poll, half a second by
        # default, at the end of every test with a server.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_app(
    database_url: str, clock: Clock, _smtp_server: SmtpSink, tmp_path: Path
) -> Iterator[Flask]:
    """The app as a browser meets it: CSRF on, no SERVER_NAME pinned to the test client."""
    application = make_app(
        database_url, clock, _smtp_server.port, tmp_path, WTF_CSRF_ENABLED=True, SERVER_NAME=None
    )
    yield application
    application.extensions["db"]["engine"].dispose()


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(live_app) as server:
        yield server
