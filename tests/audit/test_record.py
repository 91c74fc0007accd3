"""The election record: built from a real election run through the services, exported, verified."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from auditlog import verify as verifier
from ballots.client import VoterClient
from tests.ballot.conftest import flask_transport
from tests.factories import make_election, make_member, make_nomination
from voting.db import db
from voting.elections.services import get_election
from voting.lifecycle.candidates import publish_candidates
from voting.lifecycle.roll import send_links
from voting.lifecycle.seal import seal_board
from voting.lifecycle.tally import tally
from voting.log.models import Checkpoint
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.nominations.models import NominationStatus

SLUG = "val-record"
SEED = "blå kula 4"
KRETSAR = (("NORR", "Norr", 2), ("SYD", "Syd", 1))
# Per krets: (first name, last name, nominated?)
MEMBERS = {
    "NORR": [("Anna", "Berg", True), ("Bo", "Åberg", True), ("Cecilia", "Dahl", True)]
    + [("David", "Ekwallsson", False)],
    "SYD": [("Eva", "Falk", True), ("Filip", "Gran", True), ("Gun", "Holmbergare", False)],
}


def _tokens(base_url: str) -> dict[str, str]:
    """Voting-link tokens by member id, read from the queued link mails."""
    tokens = {}
    for message in db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "voter_link")
    ):
        body = message_body(message)
        assert body is not None
        token = body.split(f"{base_url}/rosta/", 1)[1].split()[0]
        tokens[message.to_addr] = token
    db.session.rollback()
    return tokens


def counted_election(
    app: Any, clock: Any, *, seed: str = SEED, before_seal: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Run an election through the real services to the count; return its ids and facts.

    Candidates are published with publish_candidates (which logs the list and key hashes),
    members vote through the HTTP API with the reference client, ``before_seal`` runs (after the
    close, in no transaction), the board is sealed, counted.
    """
    base_url = "http://localhost"
    now = clock()
    with db.transaction() as s:
        election = make_election(s, now, slug=SLUG, kretsar=KRETSAR)
        emails: dict[str, str] = {}
        candidates: dict[str, list[str]] = {}
        for krets, people in MEMBERS.items():
            for first, last, nominated in people:
                member = make_member(s, krets, first, last, now)
                emails[first] = member.email
                if nominated:
                    make_nomination(s, election, member, now, status=NominationStatus.APPROVED)
        published_at = election.nomination_closes + timedelta(minutes=1)
        for item in publish_candidates(s, election, published_at, key_bits=2048):
            candidates[item["krets"]] = item["candidates"]
        contests = {c.krets_code: str(c.id) for c in election.contests}
        send_links(s, election, published_at, base_url, by="cli")
        opens, closes = election.voting_opens, election.voting_closes
    tokens = _tokens(base_url)
    clock.set(opens + timedelta(hours=1))
    client = app.test_client()
    norr, syd = candidates["NORR"], candidates["SYD"]
    votes = {
        "Anna": ("NORR", [norr[0], norr[1]]),
        "Bo": ("NORR", [norr[0], norr[2]]),
        "David": ("NORR", [norr[1], norr[2]]),
        "Eva": ("SYD", [syd[0]]),
        "Filip": ("SYD", [syd[1]]),
    }
    for first, (krets, choices) in votes.items():
        voter = VoterClient(base_url, tokens[emails[first]], transport=flask_transport(client))
        voter.vote(SLUG, contests[krets], choices)
    after = closes + timedelta(hours=1)
    clock.set(after)
    if before_seal is not None:
        before_seal()
    with db.transaction() as s:
        election = get_election(s, SLUG)
        seal_board(s, election, after, by="cli")
        result = tally(s, election, seed, after, by="cli")
    return {"slug": SLUG, "contests": contests, "candidates": candidates, "result": result}


def export(runner: Any, path: Path) -> dict[str, Any]:
    """``voting election export SLUG -o PATH``; the record it wrote."""
    outcome = runner.invoke(args=["election", "export", SLUG, "-o", str(path)])
    assert outcome.exit_code == 0, outcome.output
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return record


def test_exported_record_verifies(app, clock, runner, tmp_path, capsys):
    facts = counted_election(app, clock)
    record = export(runner, tmp_path / "record.json")
    assert record["format"] == "kongressval-election-record"
    assert record["version"] == 1
    checks = verifier.verify_record(record, expected_fingerprint=record["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    names = {c.name for c in checks}
    assert {"log chain", "checkpoints", "candidate lists and keys", "ballot signatures"} <= names
    assert {"recount", "results hash", "board matches the seal", "no duplicates"} <= names
    assert record["tally"]["results"] == facts["result"]
    assert record["tally"]["seed"] == SEED
    by_contest = {b["contest"]: b["ballots"] for b in record["board"]}
    assert [len(by_contest[facts["contests"][k]]) for k in ("NORR", "SYD")] == [3, 2]
    counts = {c["krets"]: (c["signatures_issued"], c["roll_size"]) for c in record["contests"]}
    assert counts == {"NORR": (3, 4), "SYD": (2, 3)}
    # The console script's entry point, as an auditor runs it.
    path = str(tmp_path / "record.json")
    assert verifier.main([path, "--log-key", record["log"]["fingerprint"]]) == 0
    out = capsys.readouterr().out
    assert "✓ recount" in out
    assert "✗" not in out
    assert verifier.main([path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert all(c["ok"] for c in data["checks"])


def test_export_signs_a_checkpoint_over_the_tally(app, clock, runner, tmp_path):
    counted_election(app, clock)
    record = export(runner, tmp_path / "r.json")
    last = record["log"]["checkpoints"][-1]
    assert last["size"] == len(record["log"]["entries"])
    assert json.loads(record["log"]["entries"][-1])["type"] == "tally.counted"
    # Exporting again writes no second checkpoint at the same size.
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Checkpoint))
    again = export(runner, tmp_path / "r2.json")
    assert again == record
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkpoint)) == before


def test_export_to_a_path_it_cannot_write_fails_before_writing_anything(
    app, clock, runner, tmp_path
):
    counted_election(app, clock)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Checkpoint))
    target = tmp_path / "no-such-folder" / "record.json"
    outcome = runner.invoke(args=["election", "export", SLUG, "-o", str(target)])
    assert outcome.exit_code == 1
    assert f"{target}: cannot write there" in outcome.output
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
    # Refused before the final checkpoint: nothing was written.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkpoint)) == before


def test_record_holds_no_personal_data(app, clock, runner, tmp_path):
    counted_election(app, clock)
    record = export(runner, tmp_path / "r.json")
    text = json.dumps(record, ensure_ascii=False)
    # Members who are not candidates appear nowhere, and no email address does.
    # (Last names only: a short first name can turn up by chance inside base64.)
    for last in ("Ekwallsson", "Holmbergare"):
        assert last not in text
    assert "@example.org" not in text
    assert "Anna Berg" in text  # candidates' names are public in the manifest


def test_a_hand_edited_record_fails(app, clock, runner, tmp_path, capsys):
    counted_election(app, clock)
    record = export(runner, tmp_path / "r.json")
    norr = next(b for b in record["board"] if b["krets"] == "NORR")
    norr["ballots"].pop()
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    assert verifier.main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "✗ board matches the seal" in out
    assert "DOES NOT VERIFY" in out


def test_wrong_log_key_fingerprint_fails(app, clock, runner, tmp_path, capsys):
    counted_election(app, clock)
    export(runner, tmp_path / "r.json")
    assert verifier.main([str(tmp_path / "r.json"), "--log-key", "0000 1111"]) == 1
    assert "is not the expected 0000 1111" in capsys.readouterr().out


def test_export_before_the_count_is_refused(app, clock, runner, tmp_path):
    now = clock()
    with db.transaction() as s:
        make_election(s, now, slug=SLUG, kretsar=KRETSAR)
    outcome = runner.invoke(args=["election", "export", SLUG, "-o", str(tmp_path / "r.json")])
    assert outcome.exit_code != 0
    assert "not counted" in outcome.output
    assert not (tmp_path / "r.json").exists()
    unknown = runner.invoke(args=["election", "export", "finns-inte", "-o", str(tmp_path / "x")])
    assert unknown.exit_code != 0
    assert "finns-inte" in unknown.output


def test_record_api(app, clock, runner, client, tmp_path):
    response = client.get(f"/api/v1/elections/{SLUG}/record")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    counted_election(app, clock)
    exported = export(runner, tmp_path / "r.json")
    response = client.get(f"/api/v1/elections/{SLUG}/record")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    record = response.get_json()
    assert record == exported
    assert all(c.ok for c in verifier.verify_record(record))


def test_record_api_before_the_count(app, clock, client):
    now = clock()
    with db.transaction() as s:
        make_election(s, now, slug=SLUG, kretsar=KRETSAR)
    response = client.get(f"/api/v1/elections/{SLUG}/record")
    assert response.status_code == 404
    assert "not counted" in response.get_json()["message"]
