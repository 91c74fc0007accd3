"""The app starts, migrates on both backends, and refuses to start without secrets."""

from __future__ import annotations

import pytest

from voting import create_app
from voting.config import ConfigError


def test_healthz_answers_after_migration(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATA_KEY"])
def test_refuses_to_start_without_a_secret(missing, tmp_path, monkeypatch):
    monkeypatch.delenv(f"VOTING_{missing}", raising=False)
    config = {"SECRET_KEY": "s" * 40, "DATA_KEY": "A" * 43 + "=", "DATABASE_URL": "sqlite://"}
    del config[missing]
    with pytest.raises(ConfigError, match=missing):
        create_app(config, instance_path=str(tmp_path))


def test_refuses_a_short_data_key(tmp_path):
    with pytest.raises(ConfigError, match="32"):
        create_app(
            {"SECRET_KEY": "s" * 40, "DATA_KEY": "c2hvcnQ=", "DATABASE_URL": "sqlite://"},
            instance_path=str(tmp_path),
        )


@pytest.mark.parametrize(
    ("config", "env", "secure"),
    [
        ({}, {}, True),  # production: the session cookie only travels over https
        ({"DEBUG": True}, {}, True),  # debug mode alone changes nothing (issue 11, F12)
        ({}, {"VOTING_DEBUG": "true"}, True),
        ({"DEMO": True, "MAIL_TRANSPORT": "sink"}, {}, False),  # the demo on http://127.0.0.1
        ({}, {"VOTING_SESSION_COOKIE_SECURE": "false"}, False),  # said so explicitly
        ({"DEMO": True, "MAIL_TRANSPORT": "sink"}, {"VOTING_SESSION_COOKIE_SECURE": "true"}, True),
    ],
)
def test_session_cookie_is_secure_unless_demo(config, env, secure, tmp_path, monkeypatch):
    for name in ("VOTING_SESSION_COOKIE_SECURE", "VOTING_DEBUG", "VOTING_DEMO", "FLASK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    base = {"SECRET_KEY": "s" * 40, "DATA_KEY": "A" * 43 + "=", "DATABASE_URL": "sqlite://"}
    app = create_app({**base, **config}, instance_path=str(tmp_path))
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    app.extensions["db"]["engine"].dispose()
