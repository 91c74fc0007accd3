"""Regenerate voting/migrations/versions/0001_initial.py from the models.

Only for the unreleased schema: once a database in production has run 0001, add new
revisions with `alembic revision --autogenerate` instead of regenerating this one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

from voting.db import MIGRATIONS, make_engine

versions = MIGRATIONS / "versions"
target = versions / "0001_initial.py"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as aside:
    later = list(versions.glob("*.py"))
    for path in later:  # the later revisions depend on 0001: set them aside meanwhile
        shutil.move(path, Path(aside) / path.name)
    engine = make_engine(f"sqlite:///{Path(tmp) / 'empty.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.revision(
            cfg,
            message="initial schema",
            autogenerate=True,
            rev_id="0001",
            head="base",
            branch_label=None,
        )
    engine.dispose()
    generated = next(versions.glob("0001_*.py"))
    generated.rename(target)
    for path in later:
        shutil.move(Path(aside) / path.name, path)
# Keep the generated file in the project's style, so that the lint test stays green.
ruff = Path(sys.executable).parent / "ruff"
subprocess.run([str(ruff), "check", "--fix", "--unsafe-fixes", "-q", str(target)], check=False)
subprocess.run([str(ruff), "format", "-q", str(target)], check=True)
print(f"wrote {target}")
