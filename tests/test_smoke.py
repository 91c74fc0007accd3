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
