"""Style and types are part of the suite: ruff for everything, mypy for the app and the pure layers.

pyproject.toml makes mypy check untyped defs everywhere and strict for ballots/ and auditlog/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_check():
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = _run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_on_the_pure_layers():
    # --strict given here as well: the overrides in pyproject.toml spell its flags out one by one.
    result = _run(str(BIN / "mypy"), "--strict", "ballots", "auditlog")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_on_the_app():
    result = _run(str(BIN / "mypy"), "voting", "ballots", "auditlog")
    assert result.returncode == 0, result.stdout + result.stderr


def test_pure_layers_never_import_the_web():
    """ballots/ and auditlog/ run offline for auditors: no Flask, no database driver."""
    code = (
        "import sys, ballots, ballots.blindrsa, ballots.ballot, ballots.board, auditlog;"
        "bad = {m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'voting', 'sqlalchemy', 'psycopg', 'werkzeug'}};"
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr
