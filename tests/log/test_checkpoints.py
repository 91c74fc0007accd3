"""Signed checkpoints: written at publish, freeze and seal; their roots, signatures, API, CLI."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from auditlog import merkle, verify_checkpoint
from tests.ballot.conftest import AFTER, setup_voting
from tests.factories import make_election, make_member, make_nomination
from voting.ballot.services import manifest
from voting.db import db
from voting.elections.services import get_election
from voting.lifecycle.candidates import publish_candidates
from voting.lifecycle.seal import seal_board
from voting.log import checkpoints as cps
from voting.log.checkpoints import leaf_hashes, write_checkpoint
from voting.log.keys import fingerprint
from voting.log.models import Checkpoint
from voting.log.services import append
from voting.nominations.models import NominationStatus


def _rows(slug: str) -> list[Checkpoint]:
    return cps.checkpoints(db.session, slug)


def _assert_sound(slug: str, row: Checkpoint, log_key_b64: str) -> None:
    """The row's root is the Merkle root of the log's first ``size`` leaves, signed by the key."""
    hashes = leaf_hashes(db.session, slug)
    assert len(hashes) >= row.size
    root = merkle.root(hashes[: row.size])
    assert base64.b64decode(row.root_b64) == root
    origin, size, signed_root = verify_checkpoint(
        row.body, row.signature, base64.b64decode(log_key_b64)
    )
    assert (origin, size, signed_root) == (f"localhost/{slug}", row.size, root)


def test_a_checkpoint_is_written_when_candidates_are_published(app, clock):
    now = clock()
    with db.transaction() as s:
        election = make_election(s, now, slug="val-pub", kretsar=(("NORR", "Norr", 1),))
        make_nomination(
            s,
            election,
            make_member(s, "NORR", "Eva", "Ek", now),
            now,
            status=NominationStatus.APPROVED,
        )
        later = election.nomination_closes + timedelta(minutes=1)
        publish_candidates(s, election, later, key_bits=2048, confirm_no_vote=True)
    [row] = _rows("val-pub")
    assert row.reason == "candidates.published"
    assert row.created_at == later
    assert row.size == len(leaf_hashes(db.session, "val-pub")) > 0
    _assert_sound(
        "val-pub", row, manifest(db.session, get_election(db.session, "val-pub"))["log_key"]
    )


@pytest.fixture
def voting(app, clock, rsa_keys):
    # setup_voting publishes by setting fields, not through publish_candidates (tested above),
    # so its first checkpoint is the freeze's.
    return setup_voting(app, clock, rsa_keys, "http://localhost")


def test_checkpoints_at_freeze_and_seal_are_sound_and_consistent(voting):
    with db.transaction() as s:
        seal_board(s, get_election(s, voting.slug), AFTER, by="cli")
    rows = _rows(voting.slug)
    assert [r.reason for r in rows] == ["roll.frozen", "board.sealed"]
    reasons = {r.reason: r for r in rows}
    frozen, sealed = reasons["roll.frozen"], reasons["board.sealed"]
    # The seal is the last event; the freeze was followed by the links being sent.
    assert sealed.size == len(leaf_hashes(db.session, voting.slug))
    assert 0 < frozen.size < sealed.size
    key = manifest(db.session, get_election(db.session, voting.slug))["log_key"]
    for row in rows:
        _assert_sound(voting.slug, row, key)
    # Each earlier checkpoint is a prefix of the later one.
    hashes = leaf_hashes(db.session, voting.slug)
    proof = merkle.consistency_proof(hashes, frozen.size)
    merkle.verify_consistency(
        frozen.size,
        sealed.size,
        base64.b64decode(frozen.root_b64),
        base64.b64decode(sealed.root_b64),
        proof,
    )


def test_writing_again_at_the_same_size_is_idempotent(voting, clock):
    with db.transaction() as s:
        first = write_checkpoint(s, voting.slug, "localhost", clock(), "manual")
        again = write_checkpoint(s, voting.slug, "localhost", clock(), "other")
        assert first.id == again.id
        assert again.reason == "manual"
    before = _rows(voting.slug)
    with db.transaction() as s:
        assert write_checkpoint(s, voting.slug, "localhost", clock(), "manual").id == first.id
    assert len(_rows(voting.slug)) == len(before)
    with db.transaction() as s:
        append(s, voting.slug, "test.event", {"n": 1}, clock())
        grown = write_checkpoint(s, voting.slug, "localhost", clock(), "manual")
    assert grown.size == first.size + 1
    assert len(_rows(voting.slug)) == len(before) + 1


def test_origin_host_comes_from_base_url(app):
    assert cps.origin_host() == "localhost"
    app.config["BASE_URL"] = "https://val.example.org:8443/sub"
    assert cps.origin_host() == "val.example.org"


def test_origin_host_outside_an_app_context():
    assert cps.origin_host() == "localhost"


def test_checkpoints_api(voting, client):
    response = client.get(f"/api/v1/elections/{voting.slug}/checkpoints")
    assert response.status_code == 200
    data = response.get_json()
    key = base64.b64decode(data["log_key"])
    assert data["log_key_fingerprint"] == fingerprint(key)
    assert data["checkpoints"], data
    rows = _rows(voting.slug)
    assert [c["size"] for c in data["checkpoints"]] == [r.size for r in rows]
    for item in data["checkpoints"]:
        assert set(item) == {"size", "root", "body", "signature", "created_at", "reason"}
        origin, size, root = verify_checkpoint(
            item["body"], base64.b64decode(item["signature"]), key
        )
        assert (origin, size) == (f"localhost/{voting.slug}", item["size"])
        assert base64.b64encode(root).decode() == item["root"]


def test_checkpoints_api_unknown_election(app, client):
    response = client.get("/api/v1/elections/finns-inte/checkpoints")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_cli_writes_a_checkpoint_once(voting, runner, clock):
    clock.set(AFTER)
    count = db.session.scalar(select(func.count()).select_from(Checkpoint))
    result = runner.invoke(args=["log", "checkpoint", voting.slug])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"localhost/{voting.slug}\n")
    assert "log key fingerprint" in result.output
    # The freeze was checkpointed, but the links sent after it were not: one new checkpoint.
    assert db.session.scalar(select(func.count()).select_from(Checkpoint)) == count + 1
    again = runner.invoke(args=["log", "checkpoint", voting.slug, "--json"])
    assert again.exit_code == 0, again.output
    assert db.session.scalar(select(func.count()).select_from(Checkpoint)) == count + 1
    assert '"reason": "manual"' in again.output


def test_cli_unknown_election(app, runner):
    result = runner.invoke(args=["log", "checkpoint", "finns-inte"])
    assert result.exit_code != 0
    assert "finns-inte" in result.output
