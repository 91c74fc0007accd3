"""The published test vectors (conformance/): verify-election gives each its indexed verdict.

Each invalid vector must fail the check conformance/index.json names, with verify-election's
message; each valid one must pass every check, with its log key's fingerprint given. The
generator is run again too, so that vectors made from today's app still get the same verdicts.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditlog import verify as verifier
from auditlog.verify import verify_text

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "conformance"
INDEX = json.loads((CONFORMANCE / "index.json").read_text(encoding="utf-8"))
VECTORS = INDEX["vectors"]


def _verdict(text: str, vector: dict[str, Any]) -> None:
    checks = verify_text(text, expected_fingerprint=vector["log_key"], workers=1)
    failed = {c.name: c.detail for c in checks if not c.ok}
    if vector["valid"]:
        assert not failed, failed
        assert [c.name for c in checks] == list(verifier.CHECKS)
    else:
        assert vector["check"] in failed, failed
        assert vector["message"] in failed[vector["check"]], failed


@pytest.mark.parametrize("vector", VECTORS, ids=[v["file"] for v in VECTORS])
def test_each_vector_gets_its_verdict(vector):
    _verdict((CONFORMANCE / vector["file"]).read_text(encoding="utf-8"), vector)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["file"] for v in VECTORS])
def test_the_script_entry_point_gives_each_vector_its_verdict(vector):
    out = io.StringIO()
    path = str(CONFORMANCE / vector["file"])
    with contextlib.redirect_stdout(out):
        code = verifier.main([path, "--log-key", vector["log_key"], "--workers", "1"])
    printed = out.getvalue()
    if vector["valid"]:
        assert code == 0, printed
        assert "✗" not in printed
        assert printed.endswith("The record verifies.\n")
    else:
        assert code == 1, printed
        assert f"✗ {vector['check']}: " in printed
        assert printed.endswith("THE RECORD DOES NOT VERIFY.\n")


def test_the_index_lists_every_file_and_names_real_checks():
    files = {p.relative_to(CONFORMANCE).as_posix() for p in CONFORMANCE.glob("*/*.json")}
    assert files == {v["file"] for v in VECTORS}
    assert len(files) == len(VECTORS)
    valid = {v["file"] for v in VECTORS if v["valid"]}
    assert {"valid/normal.json", "valid/no-vote.json", "valid/tie.json"} <= valid
    for vector in VECTORS:
        assert vector["file"].startswith("valid/" if vector["valid"] else "invalid/")
        assert vector["rule"]
        if not vector["valid"]:
            assert vector["check"] in verifier.CHECKS
            assert vector["based_on"] in valid
    # Every check is shown failing by some vector.
    assert {v["check"] for v in VECTORS if not v["valid"]} == set(verifier.CHECKS)


def test_the_valid_records_are_what_the_documents_describe():
    def record(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((CONFORMANCE / f"valid/{name}.json").read_text("utf-8"))
        return data

    normal = record("normal")
    kinds = [json.loads(e)["type"] for e in normal["log"]["entries"]]
    assert kinds[0] == "election.created"
    assert {"roll.member_added", "results.published"} <= set(kinds)
    no_vote = record("no-vote")
    manifest = {c["krets"]["code"]: c for c in no_vote["manifest"]["contests"]}
    results = {c["krets"]: c for c in no_vote["tally"]["results"]["contests"]}
    board = {b["krets"]: b["ballots"] for b in no_vote["board"]}
    for krets in ("TOM", "FA", "LIKA"):
        contest = manifest[krets]
        assert len(contest["candidates"]) <= contest["seats"]
        assert board[krets] == []
        ids = [c["id"] for c in contest["candidates"]]
        assert results[krets]["elected"] == sorted(ids, key=results[krets]["ranking"].index)
        assert results[krets]["ersattare"] == []
        assert results[krets]["ties"] == []
        assert results[krets]["signatures_issued"] == 0
    assert manifest["TOM"]["candidates"] == []
    assert len(manifest["NORR"]["candidates"]) > manifest["NORR"]["seats"]
    [tie] = record("tie")["tally"]["results"]["contests"][0]["ties"]
    assert [e["place"] for e in tie["order"]] == ["elected", "ersattare 1", "ersattare 2"]


@pytest.mark.slow
@pytest.mark.parametrize("vector", VECTORS, ids=[v["file"] for v in VECTORS])
def test_the_console_script_gives_each_vector_its_verdict(vector):
    script = Path(sys.executable).with_name("verify-election")
    if not script.exists():
        pytest.fail(f"{script} is not installed (pip install -e .)")
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(script), str(CONFORMANCE / vector["file"]), "--json", "--workers", "1"]
        + ["--log-key", vector["log_key"]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = json.loads(done.stdout)
    assert done.returncode == (0 if vector["valid"] else 1), done.stdout + done.stderr
    assert result["ok"] is vector["valid"]
    failed = {c["name"]: c["detail"] for c in result["checks"] if not c["ok"]}
    if not vector["valid"]:
        assert vector["message"] in failed[vector["check"]]


@pytest.mark.slow
def test_the_generator_makes_vectors_with_the_same_verdicts(tmp_path):
    """Elections run through today's app, varied the same way, still get the indexed verdicts:
    the committed vectors have not drifted from what the app makes."""
    from conformance.generate import build, write

    index = write(tmp_path / "out", build(tmp_path / "work"))
    assert [v["file"] for v in index["vectors"]] == [v["file"] for v in VECTORS]
    for vector in index["vectors"]:
        _verdict((tmp_path / "out" / vector["file"]).read_text(encoding="utf-8"), vector)
