"""``voting members import/show`` and ``voting foreningar import/list``."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from tests.members.conftest import ANNA_PNR, csv_bytes, good_file
from tests.members.test_import import ALL_ERRORS, EXPECTED
from voting.db import db
from voting.log.models import AuditEntry
from voting.members.models import Member


def _members() -> int:
    return db.session.scalar(select(func.count()).select_from(Member))


def test_import_prints_counts(runner, kretsar, tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(good_file(sep=";", bom=True))
    result = runner.invoke(args=["members", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "rows: 3, inserted: 3, updated: 0, unchanged: 0" in result.stdout
    assert _members() == 3
    again = runner.invoke(args=["members", "import", str(path), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "inserted: 0, updated: 0, unchanged: 3" in again.stdout


def test_import_errors_print_every_line_and_write_nothing(runner, kretsar, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(ALL_ERRORS))
    result = runner.invoke(args=["members", "import", str(path)])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("row ")]
    assert [tuple(line.split(":", 1)[0].removeprefix("row ").split(", ")) for line in lines] == [
        (str(row), field) for row, field in EXPECTED
    ]
    assert "nothing was imported" in result.stderr
    assert _members() == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_import_missing_file(runner, kretsar, tmp_path):
    result = runner.invoke(args=["members", "import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_show(runner, kretsar, tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(good_file())
    assert runner.invoke(args=["members", "import", str(path)]).exit_code == 0
    result = runner.invoke(args=["members", "show", "1001"])
    assert result.exit_code == 0, result.output
    assert f"{ANNA_PNR[:8]}-****" in result.stdout
    assert ANNA_PNR[8:] not in result.stdout
    assert "Södermalm (SODERMALM)" in result.stdout
    assert "S-föreningen Söder" in result.stdout
    assert "anna.aberg@example.org" in result.stdout
    as_json = runner.invoke(args=["members", "show", "1001", "--json"])
    info = json.loads(as_json.stdout)
    assert info["personnummer"] == f"{ANNA_PNR[:8]}-****"
    assert info["krets"] == "SODERMALM"
    assert info["forening"] == "S-föreningen Söder"
    assert info["phone"] == "070-123 45 67"
    missing = runner.invoke(args=["members", "show", "404"])
    assert missing.exit_code == 1
    assert "404" in missing.output


def test_foreningar_import_and_list(runner, kretsar, tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(
        csv_bytes(
            ["Söder S,SODERMALM,s@example.org", "Bromma S,BROMMA,"],
            header="name,krets,contact_email",
        )
    )
    result = runner.invoke(args=["foreningar", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "inserted: 2" in result.stdout
    listed = json.loads(runner.invoke(args=["foreningar", "list", "--json"]).stdout)
    assert listed == [
        {"contact_email": None, "krets": "BROMMA", "name": "Bromma S"},
        {"contact_email": "s@example.org", "krets": "SODERMALM", "name": "Söder S"},
    ]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes(["X,NOWHERE,"], header="name,krets,contact_email"))
    failed = runner.invoke(args=["foreningar", "import", str(bad)])
    assert failed.exit_code == 1
    assert "row 2, krets:" in failed.stderr
