"""`voting` without its secrets: a one-line error naming what is missing, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VOTING = Path(sys.executable).parent / "voting"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VOTING_INSTANCE_PATH": str(tmp_path)}
    return subprocess.run(  # noqa: S603 - fixed program
        [str(VOTING), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_command_names_the_missing_secret(tmp_path):
    result = _run(tmp_path, "election", "show", "x")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_help_still_works(tmp_path):
    result = _run(tmp_path, "--help")
    assert result.returncode == 0
    assert "Usage: voting" in result.stdout
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
