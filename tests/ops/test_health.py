"""/healthz and /readyz, the 503 answer while the database is away, and ProxyFix."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import make_app
from tests.ops.conftest import free_port
from voting.db import db

CHECKS = {"database", "migrations", "secrets", "rate_limit_storage"}


def unreachable_url(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'voting.db'}"
    return f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"


@pytest.fixture
def down_app(request, clock, smtp_port, tmp_path):
    """The app configured for a database that cannot be reached."""
    url = unreachable_url(request.param, tmp_path)
    application = make_app(url, clock, smtp_port, tmp_path)
    yield application
    application.extensions["db"]["engine"].dispose()


def test_healthz_and_readyz_when_all_is_well(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"] == dict.fromkeys(CHECKS, "ok")


def test_readyz_names_migrations_behind(app, client):
    with db.transaction() as s:
        s.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["migrations"] == "fail"
    assert checks["database"] == "ok"
    # Alive all the same: the process and its database are there.
    assert client.get("/healthz").status_code == 200


def test_readyz_names_a_never_migrated_database(database_url, clock, smtp_port, tmp_path):
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    application = make_app(database_url, clock, smtp_port, tmp_path)
    try:
        response = application.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["migrations"] == "fail"
    finally:
        application.extensions["db"]["engine"].dispose()


def test_readyz_names_missing_secrets(app, client):
    app.config["SECRET_KEY"] = ""
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["secrets"] == "fail"


def test_readyz_names_unreachable_rate_limit_storage(database_url, clock, smtp_port, tmp_path):
    application = make_app(
        database_url,
        clock,
        smtp_port,
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
    )
    try:
        response = application.test_client().get("/readyz")
        assert response.status_code == 503
        checks = response.get_json()["checks"]
        assert checks["rate_limit_storage"] == "fail"
        assert checks["database"] == "ok"
    finally:
        application.extensions["db"]["engine"].dispose()


@pytest.mark.parametrize("down_app", ["sqlite", "postgresql"], indirect=True)
def test_database_away_answers_503_not_500(down_app):
    client = down_app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "unavailable"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"] == "fail"
    assert ready.get_json()["checks"]["migrations"] == "fail"
    # An ordinary page: a short HTML page with Retry-After, in the visitor's language.
    page = client.get("/?lang=en")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert page.mimetype == "text/html"
    assert "Temporarily unavailable" in page.get_data(as_text=True)
    assert "postgres" not in page.get_data(as_text=True)
    # The API: JSON a client can read, with Retry-After.
    api = client.get("/api/v1/elections/val-x/manifest")
    assert api.status_code == 503
    assert api.headers["Retry-After"] == "5"
    assert api.get_json()["error"] == "unavailable"


def test_an_operational_error_anywhere_is_503(app, client):
    def broken() -> str:
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionError("server closed"))

    app.add_url_rule("/_broken", "broken", broken, methods=["GET"])
    response = client.get("/_broken", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def _echo_app(database_url, clock, smtp_port, tmp_path, **extra):
    application = make_app(database_url, clock, smtp_port, tmp_path, SERVER_NAME=None, **extra)

    def echo() -> dict[str, str]:
        from flask import request

        return {"remote": request.remote_addr or "", "scheme": request.scheme, "host": request.host}

    application.add_url_rule("/_echo", "echo", echo, methods=["GET"])
    return application


FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "val.example.org",
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_forwarded_headers_ignored_by_default(database_url, clock, smtp_port, tmp_path):
    application = _echo_app(database_url, clock, smtp_port, tmp_path)
    seen = application.test_client().get("/_echo", headers=FORWARDED).get_json()
    assert seen == {"remote": "127.0.0.1", "scheme": "http", "host": "localhost"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_forwarded_headers_honoured_when_configured_in_env(
    database_url, clock, smtp_port, tmp_path, monkeypatch
):
    # As the systemd unit sets them: VOTING_* values are parsed as JSON, so "1" is the int 1.
    for name in ("FOR", "PROTO", "HOST"):
        monkeypatch.setenv(f"VOTING_PROXY_FIX_X_{name}", "1")
    application = _echo_app(database_url, clock, smtp_port, tmp_path)
    client = application.test_client()
    seen = client.get("/_echo", headers=FORWARDED).get_json()
    assert seen == {"remote": "203.0.113.7", "scheme": "https", "host": "val.example.org"}
    # One proxy trusted: a client's own X-Forwarded-For before nginx's entry is not believed.
    chained = {**FORWARDED, "X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert client.get("/_echo", headers=chained).get_json()["remote"] == "203.0.113.7"


def test_instance_path_from_the_environment(database_url, tmp_path, monkeypatch):
    """VOTING_INSTANCE_PATH names the folder whose config.py is read (the guide's /var/lib)."""
    from tests.conftest import new_data_key
    from voting import create_app

    folder = tmp_path / "var-lib-kongressval"
    folder.mkdir()
    (folder / "config.py").write_text(
        f"SECRET_KEY = {'s' * 40!r}\nDATA_KEY = {new_data_key()!r}\nOUTAGE_RETRY_AFTER = 17\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("VOTING_INSTANCE_PATH", str(folder))
    monkeypatch.setenv("VOTING_DATABASE_URL", database_url)
    application = create_app({"TESTING": True})
    try:
        assert application.instance_path == str(folder)
        assert application.config["OUTAGE_RETRY_AFTER"] == 17
        assert application.test_client().get("/readyz").status_code == 200
    finally:
        application.extensions["db"]["engine"].dispose()


def test_requests_go_on_and_stay_limited_while_redis_is_away(
    database_url, clock, smtp_port, tmp_path
):
    application = make_app(
        database_url,
        clock,
        smtp_port,
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_LINKS="2 per minute",
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
    )
    try:
        client = application.test_client()
        # No such link: refused as such, not a 500 because the limit's storage is gone.
        answers = [client.get("/rosta/" + "x" * 32).status_code for _ in range(3)]
        assert answers[:2] == [403, 403]
        assert answers[2] == 429  # counted in this process's memory meanwhile
    finally:
        application.extensions["db"]["engine"].dispose()
