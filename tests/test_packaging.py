"""A plain `pip install .` (a wheel, not an editable checkout) carries all the app reads.

The wheel is built from this checkout, unpacked into a temporary folder, and the app is started
from there in a fresh interpreter with the checkout off its path: it must migrate an empty
database, render Swedish and English pages, serve the ballot script and find its migrations.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # From a copy holding only the sources: setuptools would otherwise also pack whatever an
    # earlier build listed in the checkout's kongressval.egg-info/SOURCES.txt.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")
    for package in ("voting", "ballots", "auditlog"):
        shutil.copytree(ROOT / package, source / package, ignore=junk)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = out.glob("kongressval-*.whl")
    return built


def _data_files() -> set[str]:
    package = ROOT / "voting"
    wanted = [
        *package.glob("templates/**/*.html"),
        *package.glob("templates/**/*.txt"),
        *package.glob("static/*.css"),
        *package.glob("static/*.js"),
        *package.glob("translations/**/*.mo"),
        *package.glob("migrations/*.py"),
        *package.glob("migrations/*.mako"),
        *package.glob("migrations/versions/*.py"),
    ]
    return {path.relative_to(ROOT).as_posix() for path in wanted if path.is_file()}


def test_wheel_holds_every_template_static_file_translation_and_migration(wheel: Path) -> None:
    expected = _data_files()
    assert "voting/templates/base.html" in expected
    assert "voting/static/ballot.js" in expected
    assert "voting/translations/en/LC_MESSAGES/messages.mo" in expected
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"


SMOKE = """
import base64
import os
import sys
from pathlib import Path

import voting
from voting import create_app
from voting.db import upgrade

here = Path(voting.__file__).resolve().parent
assert here.is_relative_to(Path(sys.argv[1])), f"voting imported from {here}"
url = "sqlite:///" + sys.argv[2] + "/smoke.db"
upgrade(url)
app = create_app({
    "TESTING": True, "DATABASE_URL": url, "SECRET_KEY": os.urandom(32).hex(),
    "DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
}, instance_path=sys.argv[2])
client = app.test_client()
sv = client.get("/").get_data(as_text=True)
en = client.get("/?lang=en").get_data(as_text=True)
js = client.get("/static/ballot.js")
ready = client.get("/readyz").get_json()
print("val" in sv.lower(), "election" in en.lower(), js.status_code, len(js.data) > 10000,
      ready["checks"]["migrations"])
"""


def test_the_app_runs_from_the_unpacked_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    instance = tmp_path / "instance"
    instance.mkdir()
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", SMOKE, str(site), str(instance)],
        cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["True", "True", "200", "True", "ok"], result.stdout
