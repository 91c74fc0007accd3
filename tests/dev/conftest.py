"""The demo runs on SQLite only (``create_app`` refuses DEMO with PostgreSQL), so do its tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import make_app


@pytest.fixture
def database_url(sqlite_template, tmp_path) -> str:
    """A freshly migrated SQLite database: the only kind the demo runs on."""
    path = tmp_path / "test.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def demo_app(database_url, clock, smtp, tmp_path) -> Iterator:
    """The app as scripts/serve runs it: DEMO on, mail to the sink."""
    application = make_app(
        database_url, clock, smtp.port, tmp_path, DEMO=True, MAIL_TRANSPORT="sink"
    )
    with application.app_context():
        yield application
    application.extensions["db"]["engine"].dispose()
