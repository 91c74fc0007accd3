"""Issue 11, F12: the demo's pages and commands need DEMO; debug mode alone brings none of them.

Before, the /dev/ pages (live TOTP codes, all mail) and a session cookie without Secure followed
``app.debug``, which VOTING_DEBUG=true or DEBUG in the instance config turn on under gunicorn.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import new_data_key
from voting import create_app
from voting.config import ConfigError

VOTING = Path(sys.executable).parent / "voting"
DEV_PAGES = ["/dev/", "/dev/mail", "/dev/totp", "/dev/mail/20260101T000000000000Z-000001.eml"]
SETTINGS = ("VOTING_DEBUG", "VOTING_DEMO", "FLASK_DEBUG", "VOTING_SESSION_COOKIE_SECURE")


@pytest.fixture
def production(tmp_path, monkeypatch):
    """Make an app as gunicorn does: no TESTING, secrets from the environment."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VOTING_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("VOTING_DATA_KEY", new_data_key())
    monkeypatch.setenv("VOTING_DATABASE_URL", f"sqlite:///{tmp_path / 'voting.db'}")
    made = []

    def make(**config):
        app = create_app(config or None, instance_path=str(tmp_path / "instance"))
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["db"]["engine"].dispose()


def _assert_locked_down(app):
    assert app.debug  # the attack's precondition: debug mode is on
    client = app.test_client()
    for path in DEV_PAGES:
        assert client.get(path).status_code == 404, path
    page = client.get("/admin/login")  # the form puts a CSRF token into the session
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("kv_session=")
    assert "; Secure" in cookie
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert "No such command" in result.output


def test_voting_debug_in_the_environment_brings_no_demo(production, monkeypatch):
    monkeypatch.setenv("VOTING_DEBUG", "true")
    _assert_locked_down(production())


def test_debug_in_the_instance_config_brings_no_demo(production, tmp_path):
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "config.py").write_text("DEBUG = True\n")
    _assert_locked_down(production())


def test_the_demo_has_its_pages_and_a_plain_http_cookie(production, monkeypatch):
    monkeypatch.setenv("VOTING_DEMO", "1")
    monkeypatch.setenv("VOTING_MAIL_TRANSPORT", "sink")
    app = production()
    assert app.config["DEMO"] is True
    client = app.test_client()
    assert client.get("/dev/").status_code == 200
    page = client.get("/admin/login")
    assert "Secure" not in page.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in page.headers


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"DATABASE_URL": "postgresql://kongressval_app@127.0.0.1/kongressval"}, "not SQLite"),
        ({"MAIL_TRANSPORT": "smtp"}, "MAIL_TRANSPORT is not 'sink'"),
        ({}, "MAIL_TRANSPORT is not 'sink'"),  # SMTP is the default
    ],
)
def test_the_demo_refuses_postgresql_and_smtp(production, settings, problem):
    config = {"DEMO": True, "MAIL_TRANSPORT": "sink", **settings}
    if not settings:
        del config["MAIL_TRANSPORT"]
    with pytest.raises(ConfigError, match=problem):
        production(**config)


def test_the_demo_on_postgresql_is_a_one_line_error(tmp_path):
    """The command line says it in one line, before Flask's own note on the missing command."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "VOTING_INSTANCE_PATH": str(tmp_path),
        "VOTING_SECRET_KEY": "s" * 40,
        "VOTING_DATA_KEY": new_data_key(),
        "VOTING_DEMO": "1",
        "VOTING_MAIL_TRANSPORT": "sink",
        "VOTING_DATABASE_URL": "postgresql://kongressval_app@127.0.0.1:1/kongressval",
    }
    result = subprocess.run(  # noqa: S603 - fixed program
        [str(VOTING), "db", "upgrade"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: DEMO is on but the database is not SQLite")
    assert "Traceback" not in result.stderr + result.stdout
