"""Fault and load tests: real gunicorn processes on a scratch PostgreSQL database.

They share their setup with the benchmarks (``scripts/bench_setup.py``), so ``scripts/`` goes on
``sys.path`` here. Every test is bounded by its own timeout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, POSTGRES_SKIP_REASON

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


@pytest.fixture
def pg_admin_url() -> str:
    """The PostgreSQL server's admin URL; these tests need several processes on one server."""
    if POSTGRES_SKIP_REASON:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {POSTGRES_SKIP_REASON}")
        pytest.skip(POSTGRES_SKIP_REASON)
    return PG_ADMIN_URL


@pytest.fixture
def pg_database(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    from bench_setup import scratch_database

    with scratch_database(pg_admin_url, prefix="kvtest_fault") as url:
        yield url
