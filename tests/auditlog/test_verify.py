"""Tamper tests: a real election record, mutated by hypothesis, must fail verification by name."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlog import (
    GENESIS_HASH,
    ballotcheck,
    canonical_json,
    checkpoint_body,
    key_fingerprint,
    leaf_hash,
    make_checkpoint,
    merkle,
)
from auditlog import verify as verifier
from auditlog.verify import Check, verify_record
from auditlog.votercodes import codes_hash
from ballots.ballot import canonical_ballot
from ballots.rules import SelectionRule
from ballots.tally import result_hash, turnout
from tests.audit import test_record as record_tests
from tests.audit.test_record import SLUG, counted_election
from tests.conftest import Clock, make_app
from tests.factories import make_member
from voting.ballot import services
from voting.ballot.errors import WindowClosed
from voting.db import db
from voting.elections.services import get_election

TAMPER = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def record(
    sqlite_template: Path, _smtp_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One real record, built once through the app on SQLite and exported with the CLI.

    The committee adds one member to the roll after the freeze and before the seal (counted in
    the sealed roll size, with its logged event); an addition after the seal is refused.
    """
    tmp = tmp_path_factory.mktemp("record")
    shutil.copy(sqlite_template, tmp / "test.db")
    clock = Clock()
    app = make_app(f"sqlite:///{tmp / 'test.db'}", clock, _smtp_server.port, tmp)
    seal_board = record_tests.seal_board

    def add_then_seal(session: Any, election: Any, now: Any, *, by: Any) -> Any:
        member = make_member(session, "SYD", "Hedvig", "Ingesson", now)
        services.add_to_roll(session, election, member, now, by=by)
        return seal_board(session, election, now, by=by)

    with app.app_context(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(record_tests, "seal_board", add_then_seal)
        counted_election(app, clock)
        patch.undo()
        with db.transaction() as s:
            member = make_member(s, "NORR", "Ivar", "Jonsson", clock())
        with pytest.raises(WindowClosed), db.transaction() as s:
            services.add_to_roll(s, get_election(s, SLUG), s.merge(member), clock(), by="cli")
        outcome = app.test_cli_runner().invoke(
            args=["election", "export", "val-record", "-o", str(tmp / "record.json")]
        )
        assert outcome.exit_code == 0, outcome.output
    app.extensions["db"]["engine"].dispose()
    return json.loads((tmp / "record.json").read_text(encoding="utf-8"))


def failures(record: dict[str, Any], **kw: Any) -> dict[str, str]:
    """The failed checks by name; also checks that the console script exits 1 naming them."""
    checks: list[Check] = verify_record(record, **kw)
    failed = {c.name: c.detail for c in checks if not c.ok}
    assert failed, "the tampered record verified"
    return failed


def main_fails(record: dict[str, Any], name: str) -> str:
    """The console script exits 1 and prints the failed check with a cross."""
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(out):
        path = Path(tmp) / "r.json"
        path.write_text(json.dumps(record), encoding="utf-8")
        assert verifier.main([str(path)]) == 1
    assert f"✗ {name}" in out.getvalue()
    return out.getvalue()


def ballots(record: dict[str, Any]) -> list[tuple[int, int]]:
    return [(c, i) for c, b in enumerate(record["board"]) for i in range(len(b["ballots"]))]


def short(entry: dict[str, str]) -> str:
    return entry["ballot_hash"][:8] + "…"


def events(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(e) for e in record["log"]["entries"]]


def test_the_untouched_record_verifies(record):
    checks = verify_record(record)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert [c.name for c in checks] == list(verifier.CHECKS)
    kinds = [e["type"] for e in events(record)]
    seal = kinds.index("board.sealed")
    assert kinds.index("roll.frozen") < seal
    added = [i for i, kind in enumerate(kinds) if kind == "roll.member_added"]
    assert len(added) == 1
    assert added[0] < seal
    [roll] = [c for c in checks if c.name == "roll size matches the log"]
    assert roll.detail.endswith("roll.member_added events before the seal (1 in all)")


def test_parallel_workers_give_the_same_checks(record, monkeypatch):
    monkeypatch.setattr(ballotcheck, "PARALLEL_THRESHOLD", 0)
    monkeypatch.setattr(ballotcheck, "CHUNK_SIZE", 2)
    assert verify_record(record, workers=2) == verify_record(record, workers=1)


def test_parallel_workers_find_a_bad_signature(record, monkeypatch):
    monkeypatch.setattr(ballotcheck, "PARALLEL_THRESHOLD", 0)
    monkeypatch.setattr(ballotcheck, "CHUNK_SIZE", 1)
    bad = copy.deepcopy(record)
    other = bad["board"][1]["ballots"][0]["signature"]
    entry = bad["board"][0]["ballots"][0]
    entry["signature"] = other
    failed = failures(bad, workers=2)
    assert f"ballot {short(entry)}: signature does not verify" in failed["ballot signatures"]


@TAMPER
@given(data=st.data(), rehash=st.booleans())
def test_a_changed_choice_fails(record, data, rehash):
    bad = copy.deepcopy(record)
    c, i = data.draw(st.sampled_from(ballots(bad)))
    entry = bad["board"][c]["ballots"][i]
    ballot = json.loads(entry["ballot"])
    contest = next(x for x in bad["manifest"]["contests"] if x["id"] == ballot["contest"])
    ids = [x["id"] for x in contest["candidates"]]
    size = len(ballot["choices"])
    options = [sorted(p) for p in _subsets(ids, size) if sorted(p) != ballot["choices"]]
    choices = data.draw(st.sampled_from(options))
    entry["ballot"] = canonical_ballot(
        ballot["election"], ballot["contest"], choices, ballot["nonce"]
    )
    if rehash:
        prefix = base64.urlsafe_b64decode(entry["msg_prefix"] + "==")
        entry["ballot_hash"] = hashlib.sha256(prefix + entry["ballot"].encode()).hexdigest()
        failed = failures(bad)
        assert f"ballot {short(entry)}: signature does not verify" in failed["ballot signatures"]
    else:
        failed = failures(bad)
        assert f"ballot {short(entry)}: its ballot_hash is not" in failed["ballots valid"]
    assert "board matches the seal" in failed
    main_fails(bad, "board matches the seal")


def _subsets(ids: list[str], size: int) -> list[tuple[str, ...]]:
    from itertools import combinations

    return list(combinations(ids, size))


@TAMPER
@given(data=st.data())
def test_a_dropped_ballot_fails(record, data):
    bad = copy.deepcopy(record)
    c, i = data.draw(st.sampled_from(ballots(bad)))
    bad["board"][c]["ballots"].pop(i)
    failed = failures(bad)
    contest = bad["board"][c]["contest"]
    assert f"contest {contest}: the board hash" in failed["board matches the seal"]
    assert "ballots on the board" in failed["ballots ≤ signatures ≤ roll"]
    main_fails(bad, "board matches the seal")


@TAMPER
@given(data=st.data())
def test_a_duplicated_ballot_fails(record, data):
    bad = copy.deepcopy(record)
    c, i = data.draw(st.sampled_from(ballots(bad)))
    entry = bad["board"][c]["ballots"][i]
    target = data.draw(st.integers(0, len(bad["board"]) - 1))
    bad["board"][target]["ballots"].insert(i, copy.deepcopy(entry))
    failed = failures(bad)
    assert f"ballot {short(entry)}: its ballot hash appears twice" in failed["no duplicates"]
    assert f"ballot {short(entry)}: its signature appears twice" in failed["no duplicates"]
    main_fails(bad, "no duplicates")


@TAMPER
@given(data=st.data())
def test_reordered_ballots_fail(record, data):
    bad = copy.deepcopy(record)
    c = data.draw(st.sampled_from([c for c, b in enumerate(bad["board"]) if len(b["ballots"]) > 1]))
    board = bad["board"][c]["ballots"]
    i, j = data.draw(st.lists(st.integers(0, len(board) - 1), min_size=2, max_size=2, unique=True))
    board[i], board[j] = board[j], board[i]
    failed = failures(bad)
    assert "out of ballot-hash order" in failed["ballots valid"]
    main_fails(bad, "ballots valid")


@TAMPER
@given(data=st.data())
def test_a_ballot_moved_to_another_contest_fails(record, data):
    bad = copy.deepcopy(record)
    c, i = data.draw(st.sampled_from(ballots(bad)))
    entry = bad["board"][c]["ballots"].pop(i)
    other = bad["board"][1 - c]["ballots"]
    other.append(entry)
    other.sort(key=lambda e: e["ballot_hash"])
    failed = failures(bad)
    assert f"ballot {short(entry)}: contest: the ballot is for" in failed["ballots valid"]
    assert "board matches the seal" in failed
    main_fails(bad, "ballots valid")


def _edit_entry(body: str, how: int) -> str:
    fields = json.loads(body)
    if how == 0:
        time = fields["time"]
        fields["time"] = time[:-2] + ("2" if time[-2] == "1" else "1") + "Z"
    elif how == 1:
        fields["data"]["tampered"] = True
    else:
        fields["type"] = fields["type"] + ".x"
    return canonical_json(fields).decode()


@TAMPER
@given(data=st.data(), how=st.integers(0, 2))
def test_an_edited_log_entry_fails(record, data, how):
    bad = copy.deepcopy(record)
    entries = bad["log"]["entries"]
    i = data.draw(st.integers(0, len(entries) - 1))
    entries[i] = _edit_entry(entries[i], how)
    failed = failures(bad)
    if i + 1 < len(entries):
        assert f"log entry {i + 1}: prev does not match" in failed["log chain"]
    assert "root is not the Merkle root" in failed["checkpoints"]
    main_fails(bad, "checkpoints")


@TAMPER
@given(data=st.data())
def test_a_dropped_log_entry_fails(record, data):
    bad = copy.deepcopy(record)
    entries = bad["log"]["entries"]
    i = data.draw(st.integers(0, len(entries) - 1))
    entries.pop(i)
    failed = failures(bad)
    if i < len(entries):
        assert f"log entry {i}: has seq {i + 1}" in failed["log chain"]
    assert "checkpoints" in failed
    main_fails(bad, "checkpoints")


@TAMPER
@given(data=st.data())
def test_reordered_log_entries_fail(record, data):
    bad = copy.deepcopy(record)
    entries = bad["log"]["entries"]
    i, j = sorted(
        data.draw(st.lists(st.integers(0, len(entries) - 1), min_size=2, max_size=2, unique=True))
    )
    entries[i], entries[j] = entries[j], entries[i]
    failed = failures(bad)
    assert f"log entry {i}: has seq {j}" in failed["log chain"]
    main_fails(bad, "log chain")


@TAMPER
@given(data=st.data(), what=st.sampled_from(["size", "root", "signature", "origin"]))
def test_a_forged_checkpoint_fails(record, data, what):
    bad = copy.deepcopy(record)
    index = data.draw(st.integers(0, len(bad["log"]["checkpoints"]) - 1))
    cp = bad["log"]["checkpoints"][index]
    origin, size, root = cp["body"].split("\n")[:3]
    if what == "size":
        cp["body"] = f"{origin}\n{int(size) - 1}\n{root}\n"
    elif what == "root":
        cp["body"] = f"{origin}\n{size}\n{base64.b64encode(bytes(32)).decode()}\n"
    elif what == "origin":
        cp["body"] = f"evil.example/{bad['election']}\n{size}\n{root}\n"
    else:
        signature = bytearray(base64.b64decode(cp["signature"]))
        signature[data.draw(st.integers(0, 63))] ^= 1
        cp["signature"] = base64.b64encode(bytes(signature)).decode()
    failed = failures(bad)
    assert f"checkpoint {index}: checkpoint signature does not verify" in failed["checkpoints"]
    main_fails(bad, "checkpoints")


def _leaves(record: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(leaf_hash(e.encode())) for e in record["log"]["entries"]]


@TAMPER
@given(data=st.data())
def test_a_checkpoint_re_signed_with_another_key_fails(record, data):
    bad = copy.deepcopy(record)
    other = Ed25519PrivateKey.generate()
    index = data.draw(st.integers(0, len(bad["log"]["checkpoints"]) - 1))
    cp = bad["log"]["checkpoints"][index]
    # A correct body (its own size and root), but signed by a key that is not the log's.
    body = checkpoint_body(cp["body"].split("\n")[0], cp["size"], base64.b64decode(cp["root"]))
    assert body == cp["body"]
    cp["signature"] = base64.b64encode(other.sign(body.encode())).decode()
    failed = failures(bad)
    assert f"checkpoint {index}: checkpoint signature does not verify" in failed["checkpoints"]
    main_fails(bad, "checkpoints")


def test_a_whole_log_re_signed_with_another_key_fails_against_the_printed_fingerprint(record):
    """A server that re-signed every checkpoint with a new key is caught by the fingerprint
    printed on paper, and, as long as it left the log's first entry alone, by the log key that
    election.created names (test below: one that rewrote that too)."""
    bad = copy.deepcopy(record)
    other = Ed25519PrivateKey.generate()
    raw = other.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    leaves = _leaves(bad)
    for cp in bad["log"]["checkpoints"]:
        origin = cp["body"].split("\n")[0]
        root = merkle.root(leaves[: cp["size"]])
        cp["body"] = checkpoint_body(origin, cp["size"], root)
        cp["signature"] = base64.b64encode(other.sign(cp["body"].encode())).decode()
    bad["log"]["public_key"] = base64.b64encode(raw).decode()
    bad["log"]["fingerprint"] = key_fingerprint(raw)
    bad["manifest"]["log_key"] = bad["log"]["public_key"]
    printed = record["log"]["fingerprint"]
    failed = failures(bad, expected_fingerprint=printed)
    assert set(failed) == {"log key", "log events"}
    assert f"is not the expected {printed}" in failed["log key"]
    assert failed["log events"] == "entry 0 (election.created): log_key is not the log's key"


def _log_key_line(record: dict[str, Any], *args: str) -> tuple[int, str]:
    """The console script's exit code and its printed ``log key`` line."""
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(out):
        path = Path(tmp) / "r.json"
        path.write_text(json.dumps(record), encoding="utf-8")
        rc = verifier.main([str(path), *args])
    [line] = [ln for ln in out.getvalue().splitlines() if " log key: " in ln]
    return rc, line


def test_without_log_key_the_check_says_it_did_not_compare_an_outside_fingerprint(record):
    """Without --log-key the record is only checked against its own key: it passes (exit 0),
    but the line must not read like a full check, and it says how to make one."""
    rc, line = _log_key_line(record)
    assert rc == 0
    assert line.startswith("✓ log key: ")
    assert "NOT checked against an outside fingerprint" in line
    assert '--log-key "<fingerprint printed in the protocol>"' in line
    assert "as expected" not in line


def test_with_the_matching_log_key_the_check_says_it_matched(record):
    printed = record["log"]["fingerprint"]
    rc, line = _log_key_line(record, "--log-key", printed.upper())
    assert rc == 0
    assert line == f"✓ log key: fingerprint {printed}, as expected (--log-key)"


def test_with_another_log_key_the_check_fails(record):
    other = key_fingerprint(bytes(32))
    rc, line = _log_key_line(record, "--log-key", other)
    assert rc == 1
    assert line.startswith("✗ log key: ")
    assert f"is not the expected {other}" in line
    assert "NOT checked" not in line


@TAMPER
@given(data=st.data(), field=st.sampled_from(["votes", "elected", "turnout", "roll_size", "seed"]))
def test_altered_results_fail(record, data, field):
    bad = copy.deepcopy(record)
    results = bad["tally"]["results"]
    contest = data.draw(st.sampled_from(results["contests"]))
    if field == "votes":
        candidate = data.draw(st.sampled_from(sorted(contest["votes"])))
        contest["votes"][candidate] += data.draw(st.integers(1, 5))
    elif field == "elected":
        contest["elected"], contest["ersattare"] = contest["ersattare"][:1], contest["elected"]
    elif field == "turnout":
        contest["turnout"] = "99.9"
    elif field == "roll_size":
        contest["roll_size"] += 1
    else:
        results["seed"] = "en annan kula"
    failed = failures(bad)
    assert "the results do not hash" in failed["results hash"]
    assert "recount" in failed
    if field != "seed":
        assert f"contest {contest['contest']}: the published" in failed["recount"]
    main_fails(bad, "recount")


def test_a_swapped_contest_key_fails(record):
    bad = copy.deepcopy(record)
    first, second = bad["manifest"]["contests"][:2]
    for key in ("public_key_spki", "public_key_jwk"):
        first[key], second[key] = second[key], first[key]
    failed = failures(bad)
    for contest in (first, second):
        assert (
            f"contest {contest['id']}: the contest key is not the one published in the log"
            in failed["candidate lists and keys"]
        )
    assert "signature does not verify under contest" in failed["ballot signatures"]
    main_fails(bad, "candidate lists and keys")


def test_an_edited_candidate_list_fails(record):
    bad = copy.deepcopy(record)
    contest = bad["manifest"]["contests"][0]
    contest["candidates"][0]["name"] = "Någon Annan"
    failed = failures(bad)
    assert (
        f"contest {contest['id']}: the candidate list does not hash"
        in (failed["candidate lists and keys"])
    )


def test_more_ballots_than_signatures_fails(record):
    bad = copy.deepcopy(record)
    entries = bad["log"]["entries"]
    # The record's own copy of the counts must agree with the seal.
    bad["contests"][0]["signatures_issued"] += 1
    failed = failures(bad)
    assert "the record's counts are not the sealed ones" in failed["ballots ≤ signatures ≤ roll"]
    assert entries == record["log"]["entries"]


def _relog(record: dict[str, Any], edit: Callable[[list[dict[str, Any]]], None]) -> dict[str, Any]:
    """A copy of the record with its log edited, re-chained, and its checkpoints re-signed with
    a fresh key that the record and its manifest name: a server that rewrote its history
    consistently. Only the printed fingerprint would tell. Each checkpoint again ends with the
    last of the entries it covered (a checkpoint that would not be larger than the one before
    it, as when an entry moves back past it, is dropped)."""
    bad = copy.deepcopy(record)
    fields = events(bad)
    covered = [fields[: cp["size"]] for cp in bad["log"]["checkpoints"]]
    edit(fields)
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for entry in fields:
        if entry["type"] == "election.created":
            entry["data"]["log_key"] = base64.b64encode(raw).decode()
    position = {id(entry): index for index, entry in enumerate(fields)}
    bodies, prev = [], GENESIS_HASH
    for seq, entry in enumerate(fields):
        entry.update(seq=seq, prev=prev)
        bodies.append(canonical_json(entry).decode())
        prev = leaf_hash(bodies[-1].encode())
    bad["log"]["entries"] = bodies
    leaves = _leaves(bad)
    checkpoints = []
    for cp, entries in zip(bad["log"]["checkpoints"], covered, strict=True):
        size = 1 + max(position[id(e)] for e in entries if id(e) in position)
        if checkpoints and size <= checkpoints[-1]["size"]:
            continue
        checkpoints.append(cp)
        root = merkle.root(leaves[:size])
        made = make_checkpoint(cp["body"].split("\n")[0], size, root, key)
        cp.update(
            body=made.body,
            signature=base64.b64encode(made.signature).decode(),
            size=size,
            root=base64.b64encode(root).decode(),
        )
    bad["log"]["checkpoints"] = checkpoints
    bad["log"]["public_key"] = bad["manifest"]["log_key"] = base64.b64encode(raw).decode()
    bad["log"]["fingerprint"] = key_fingerprint(raw)
    return bad


def _event(fields: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [entry] = [e for e in fields if e["type"] == kind]
    return entry


def _of(items: list[dict[str, Any]], cid: str) -> dict[str, Any]:
    [item] = [i for i in items if i["contest"] == cid]
    return item


def test_a_re_chained_and_re_signed_log_verifies_without_the_printed_fingerprint(record):
    """The tamper tests below rewrite the log with ``_relog``; unedited, it passes every check
    but the printed fingerprint, so what fails in them is due to their edit alone."""
    bad = _relog(record, lambda fields: None)
    assert bad["log"]["fingerprint"] != record["log"]["fingerprint"]
    assert all(c.ok for c in verify_record(bad))
    failed = failures(bad, expected_fingerprint=record["log"]["fingerprint"])
    assert set(failed) == {"log key"}


@TAMPER
@given(
    data=st.data(),
    how=st.sampled_from(["inflate seal", "shrink freeze", "add before seal", "drop addition"]),
)
def test_a_sealed_roll_size_that_is_not_the_logged_roll_fails(record, data, how):
    """A server that inflates a contest's sealed roll size (so that more signatures and ballots
    fit under it), or rewrites the roll events, and makes everything else agree, re-chained and
    re-signed, is caught only by the roll events of its own log."""
    log = events(record)
    frozen = {c["contest"]: c["size"] for c in _event(log, "roll.frozen")["data"]["contests"]}
    earlier = [e for e in log if e["type"] == "roll.member_added"][-1]  # added before the seal
    if how == "drop addition":
        cid, more = earlier["data"]["contest"], 1
    else:
        cid = data.draw(st.sampled_from(sorted(frozen)))
        more = data.draw(st.integers(1, frozen[cid] if how == "shrink freeze" else 1000))
    sealed = logged = _of(record["contests"], cid)["roll_size"]
    if how == "inflate seal":
        sealed += more
    elif how in ("shrink freeze", "drop addition"):
        logged -= more
    else:
        logged += more
    results = copy.deepcopy(record["tally"]["results"])
    contest = _of(results["contests"], cid)
    contest.update(roll_size=sealed, turnout=turnout(contest["ballots_cast"], sealed))

    def edit(fields: list[dict[str, Any]]) -> None:
        seal = _event(fields, "board.sealed")
        _of(seal["data"]["contests"], cid)["roll_size"] = sealed
        _event(fields, "tally.counted")["data"]["results_hash"] = result_hash(results)
        if how == "shrink freeze":
            _of(_event(fields, "roll.frozen")["data"]["contests"], cid)["size"] -= more
        elif how == "add before seal":
            # Each addition commits to the record's codes and names the size it made, so that
            # only the seal disagrees with the log.
            listed = _of(record["contests"], cid)
            digest = codes_hash(listed["roll_codes"], listed["roll_codes_salt"])
            for n in range(more):
                added = {
                    "contest": cid,
                    "voter": f"m:{n:024x}",
                    "size": listed["roll_size"] + n + 1,
                    "codes_hash": digest,
                    "by": "cli",
                }
                fields.insert(
                    fields.index(seal),
                    {"data": added, "time": seal["time"], "type": "roll.member_added"},
                )
        elif how == "drop addition":
            fields.remove(next(e for e in fields if e["seq"] == earlier["seq"]))

    bad = _relog(record, edit)
    bad["tally"]["results"] = results
    _of(bad["contests"], cid)["roll_size"] = sealed
    failed = failures(bad)
    # Without the addition the codes' commitment in force is the freeze's, which the record's
    # codes (the addition's among them) do not open.
    also = {"voter codes"} if how == "drop addition" else set()
    assert set(failed) == {"roll size matches the log", *also}, failed
    assert failed["roll size matches the log"].startswith(
        f"contest {cid}: the sealed roll size {sealed} is not the logged roll's {logged} "
    )
    main_fails(bad, "roll size matches the log")


def test_a_second_roll_freeze_fails(record):
    def edit(fields: list[dict[str, Any]]) -> None:
        frozen = _event(fields, "roll.frozen")
        fields.insert(fields.index(frozen) + 1, copy.deepcopy(frozen))

    failed = failures(_relog(record, edit))
    assert set(failed) == {"log events"}
    assert "the log holds 2 roll.frozen events, not at most one" in failed["log events"]


@pytest.mark.parametrize(
    "record_value",
    [None, [], {}, {"format": "other"}, {"format": "kongressval-election-record", "version": 2}],
)
def test_not_a_record(record_value):
    [check] = verify_record(record_value)
    assert check.name == "record format"
    assert not check.ok


# Descriptive fields that no log event binds (docs/election-record.md says so).
UNCHECKED = {
    ("manifest", "title"),
    ("manifest", "timezone"),
    ("manifest", "voting_opens"),
    ("manifest", "voting_closes"),
    "name",  # a krets's display name
    "created_at",  # a checkpoint's time (the signed body has none)
    "reason",  # why a checkpoint was written
}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield from _paths(item, (*prefix, index))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), replacement=_json)
def test_a_malformed_record_never_crashes_the_verifier(record, data, replacement):
    bad = copy.deepcopy(record)
    path = data.draw(st.sampled_from([p for p in _paths(bad) if p]))
    informational = path[:2] in UNCHECKED or path[:3] in UNCHECKED or path[-1] in UNCHECKED
    target = bad
    for step in path[:-1]:
        target = target[step]
    if replacement == target[path[-1]]:
        return
    target[path[-1]] = replacement
    checks = verify_record(bad, workers=1)
    assert all(isinstance(c, Check) for c in checks)
    if not informational:
        assert not all(c.ok for c in checks), path


def test_the_console_script_runs_offline(record, tmp_path_factory):
    """``verify-election`` in a fresh process: exit 0, and neither Flask nor a database loaded."""
    path = tmp_path_factory.mktemp("offline") / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    code = (
        "import sys\n"
        "from auditlog.verify import main\n"
        f"rc = main([{str(path)!r}, '--log-key', {record['log']['fingerprint']!r}])\n"
        "loaded = [m for m in ('flask', 'sqlalchemy', 'voting') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOADED []" in done.stdout
    assert "The record verifies." in done.stdout
    edited = copy.deepcopy(record)
    edited["tally"]["seed"] = "fusk"
    path.write_text(json.dumps(edited), encoding="utf-8")
    script = Path(sys.executable).with_name("verify-election")
    if script.exists():
        done = subprocess.run(  # noqa: S603
            [str(script), str(path), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert result["ok"] is False
        assert {c["name"] for c in result["checks"] if not c["ok"]} >= {"recount", "results hash"}


def test_the_fast_signature_check_agrees_with_blindrsa(rsa_keys):
    """The verifier reads the modulus once per chunk; it must accept and refuse as blindrsa."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from ballots.blindrsa import verify as blindrsa_verify
    from ballots.errors import InvalidSignature

    private = rsa_keys[0]
    public = private.public_key()
    check = ballotcheck.signature_checker(public)
    message = bytes(32) + b'{"v":1}'
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    good = private.sign(message, pss, hashes.SHA384())
    n = public.public_numbers().n
    too_big = (n + 1).to_bytes(len(good), "big") if (n + 1).bit_length() <= 8 * len(good) else good
    candidates = [good, good[:-1], b"\x00" + good, bytes(len(good)), too_big, good[::-1]]
    for signature in candidates:
        try:
            blindrsa_verify(public, message, signature)
            expected = True
        except InvalidSignature:
            expected = False
        assert check(message, signature) is expected
    assert check(message, good) is True
    assert check(message + b"x", good) is False


# --- The verifier's shortcuts must accept and refuse exactly as the strict code does -------

_B64_CHARS = 'ABCQgwAEIM048xyz-_+/= \n"\\é\x00'


@st.composite
def _b64url_texts(draw: st.DrawFn, length: int) -> str:
    """Spellings of ``length`` bytes, often valid, often one character or the length off."""
    text = base64.urlsafe_b64encode(draw(st.binary(min_size=length, max_size=length)))
    spelled = text.rstrip(b"=").decode()
    how = draw(st.integers(0, 4))
    if how == 1:
        i = draw(st.integers(0, len(spelled) - 1))
        spelled = spelled[:i] + draw(st.sampled_from(_B64_CHARS)) + spelled[i + 1 :]
    elif how == 2:
        spelled = spelled[:-1] + draw(st.sampled_from(_B64_CHARS))
    elif how == 3:
        spelled = spelled[: draw(st.integers(0, len(spelled)))] + draw(st.text(_B64_CHARS))
    elif how == 4:
        spelled = draw(st.text(_B64_CHARS, max_size=8))
    return spelled


@settings(max_examples=400, deadline=None)
@given(data=st.data(), length=st.sampled_from([1, 2, 3, 16, 32, 256, 384]))
def test_the_fast_base64url_decoder_agrees_with_b64url_decode(data, length):
    from ballots.ballot import b64url_decode
    from ballots.errors import InvalidEncoding

    text = data.draw(_b64url_texts(length))
    try:
        expected: bytes | None = b64url_decode(text, length=length)
    except InvalidEncoding:
        expected = None
    assert ballotcheck.Base64Url(length).decode(text) == expected


_IDS = ["1", "2", "10", "Ärla", 'a"b', "x\\y"]
_RULE = SelectionRule(seats=2, min_selections=1, max_selections=3, substitutes=1)
_MUTATION_CHARS = st.sampled_from(list('AQgw09_-+/="\\ {}[],:é\n') + ["\\u0041"])


@st.composite
def _ballot_texts(draw: st.DrawFn) -> str:
    """Ballots of contest 7 in election "val": canonical ones, mutated ones, other contests."""
    choices = draw(st.lists(st.sampled_from([*_IDS, "99"]), min_size=0, max_size=4, unique=True))
    nonce = base64.urlsafe_b64encode(draw(st.binary(min_size=16, max_size=16))).decode()[:22]
    contest = draw(st.sampled_from(["7", "7", "7", "8"]))
    try:
        text = canonical_ballot("val", contest, choices, nonce)
    except Exception:  # noqa: BLE001 - some drawn choices cannot make a ballot at all
        text = json.dumps({"choices": choices, "nonce": nonce})
    for _ in range(draw(st.integers(0, 2))):
        n = len(text)
        # Most mutations hit the nonce's slot and its neighbours, where the shortcut looks.
        i = draw(st.integers(max(0, n - 33), n - 1) | st.integers(0, n - 1))
        how = draw(st.integers(0, 2))
        char = draw(_MUTATION_CHARS)
        if how == 0:
            text = text[:i] + char + text[i + 1 :]
        elif how == 1:
            text = text[:i] + char + text[i:]
        else:
            text = text[:i] + text[i + 1 :]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_ballot_texts(), min_size=1, max_size=12))
def test_the_ballot_shortcut_is_exactly_as_strict_as_parse_ballot(rsa_keys, texts):
    """One checker sees a run of ballots, as in a chunk: whatever it remembered from earlier
    ballots, it accepts and refuses each one as ``parse_ballot`` does, with the same message."""
    from ballots.ballot import parse_ballot
    from ballots.errors import BallotError

    spki = (
        rsa_keys[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    spec = ballotcheck.ContestSpec("val", "7", spki, tuple(_IDS), _RULE)
    checker = ballotcheck.ContestChecker(spec, rsa_keys[0].public_key())
    for text in texts:
        try:
            expected: Any = parse_ballot(
                text, election="val", contest="7", candidate_ids=set(_IDS), rule=_RULE
            ).choices
        except BallotError as exc:
            expected = exc.message
        try:
            got: Any = checker.choices(text)
        except BallotError as exc:
            got = exc.message
        assert got == expected, text


def test_the_ballot_shortcut_remembers_and_still_checks_the_nonce(rsa_keys):
    from ballots.errors import BallotError

    spki = (
        rsa_keys[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    spec = ballotcheck.ContestSpec("val", "7", spki, tuple(_IDS), _RULE)
    checker = ballotcheck.ContestChecker(spec, rsa_keys[0].public_key())
    first = canonical_ballot("val", "7", ["1", "2"], "A" * 22)
    assert checker.choices(first) == ("1", "2")
    assert len(checker.accepted) == 1
    assert checker.choices(canonical_ballot("val", "7", ["1", "2"], "B" * 21 + "Q")) == ("1", "2")
    for nonce in ("B" * 21 + "B", "B" * 20 + "+Q", "B" * 20 + '"Q'):
        with pytest.raises(BallotError):
            checker.choices(first.replace("A" * 22, nonce))


_FIELD_TEXT = st.text(alphabet=st.sampled_from(list('ab0"\\\n\x01é€') + ["\U0001f600"]), max_size=4)


@st.composite
def _boards(draw: st.DrawFn) -> list[Any]:
    entries = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "ballot": _FIELD_TEXT,
                    "ballot_hash": st.sampled_from(["a", "b", "c", "d"]),
                    "msg_prefix": _FIELD_TEXT,
                    "signature": _FIELD_TEXT,
                }
            ),
            max_size=6,
        )
    )
    if draw(st.booleans()):
        entries.sort(key=lambda e: e["ballot_hash"])
    if entries and draw(st.integers(0, 3)) == 0:
        entry = draw(st.sampled_from(entries))
        how = draw(st.integers(0, 3))
        if how == 0:
            entry["extra"] = "x"
        elif how == 1:
            del entry["signature"]
        elif how == 2:
            entry["ballot"] = draw(st.none() | st.integers() | st.lists(st.integers(), max_size=2))
        else:
            entries.append(draw(st.sampled_from([None, "x", [], 3])))
    return entries


@settings(max_examples=300, deadline=None)
@given(board=_boards())
def test_the_fast_board_hash_equals_board_hash(board):
    from ballots.board import board_hash

    try:
        expected: str | None = board_hash(board)
    except (KeyError, TypeError):
        expected = None
    assert ballotcheck.fast_board_hash(board) == expected


def _slow_duplicates_and_order(board: dict[str, list[Any]]) -> tuple[list[str], list[str]]:
    """The verifier's scan as it was before the fast path, to compare with."""
    duplicates: list[str] = []
    order: list[str] = []
    seen_hashes: set[str] = set()
    seen_signatures: set[str] = set()
    for cid, ballots in board.items():
        previous = ""
        for index, entry in enumerate(ballots):
            if not isinstance(entry, dict):
                continue
            digest, signature = str(entry.get("ballot_hash")), str(entry.get("signature"))
            if digest in seen_hashes:
                duplicates.append(f"ballot {digest[:8]}…: its ballot hash appears twice")
            if signature in seen_signatures:
                duplicates.append(f"ballot {digest[:8]}…: its signature appears twice")
            seen_hashes.add(digest)
            seen_signatures.add(signature)
            if digest < previous:
                order.append(f"contest {cid}: ballot {index} is out of ballot-hash order")
            previous = digest
    return duplicates, order


@settings(max_examples=300, deadline=None)
@given(boards=st.lists(_boards(), min_size=1, max_size=3))
def test_the_duplicate_and_order_scan_finds_what_the_plain_scan_finds(boards):
    board = {str(i): b for i, b in enumerate(boards)}
    rec = SimpleNamespace(board=board)
    assert ballotcheck.duplicates_and_order(rec) == _slow_duplicates_and_order(board)


def test_forked_workers_give_the_same_checks(record, tmp_path_factory):
    """In a single-threaded process the pool forks and shares the board: same checks, also
    for a tampered record, as one process gives."""
    tmp = tmp_path_factory.mktemp("fork")
    bad = copy.deepcopy(record)
    entry = bad["board"][0]["ballots"][0]
    entry["signature"] = bad["board"][1]["ballots"][0]["signature"]
    bad["board"][1]["ballots"].append(copy.deepcopy(bad["board"][1]["ballots"][0]))
    for name, value in (("good", record), ("bad", bad)):
        (tmp / f"{name}.json").write_text(json.dumps(value), encoding="utf-8")
    code = (
        "import json, sys, threading\n"
        "from dataclasses import asdict\n"
        "from auditlog import ballotcheck, verify\n"
        "ballotcheck.PARALLEL_THRESHOLD = 0\n"
        "ballotcheck.CHUNK_SIZE = 1\n"
        "assert threading.active_count() == 1\n"
        "out = {}\n"
        f"for name in ('good', 'bad'):\n"
        f"    rec = json.loads(open({str(tmp)!r} + '/' + name + '.json').read())\n"
        "    out[name] = [asdict(c) for c in verify.verify_record(rec, workers=2)]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    forked = json.loads(done.stdout)
    for name, value in (("good", record), ("bad", bad)):
        serial = [
            {"name": c.name, "ok": c.ok, "detail": c.detail}
            for c in verify_record(value, workers=1)
        ]
        assert forked[name] == serial
    assert all(c["ok"] for c in forked["good"])
    failed = {c["name"] for c in forked["bad"] if not c["ok"]}
    assert {"ballot signatures", "no duplicates", "board matches the seal"} <= failed
