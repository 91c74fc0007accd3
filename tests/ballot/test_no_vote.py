"""Kretsar without a vote: no candidates, or no more candidates than seats (issue 9).

An election whose kretsar have 3 candidates for 2 seats (NORR, a vote), none for 2 seats (TOM)
and 1 for 2 seats (FA): publishing needs the committee's confirmation, the selection rule goes
into the log, TOM and FA members get a notice instead of a link and cannot be signed for, and
the whole election runs to a record that verify-election accepts.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from auditlog import verify as verifier
from ballots.client import ClientError, VoterClient, parse_manifest
from tests.ballot.conftest import flask_transport
from tests.factories import make_election, make_member, make_nomination
from voting.ballot import services
from voting.ballot.errors import NoVote, WrongKrets
from voting.ballot.links import NO_VOTE_KIND, remind, resend_link
from voting.ballot.models import VoterLink
from voting.db import db
from voting.elections.services import get_election
from voting.errors import NoVoteNotConfirmed
from voting.lifecycle import results as results_service
from voting.lifecycle.candidates import publish_candidates
from voting.lifecycle.results import protocol_pdf, publish_results, view_model
from voting.lifecycle.roll import freeze_roll, send_links
from voting.lifecycle.seal import seal_board
from voting.lifecycle.tally import stored_result
from voting.log.models import AuditEntry
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.members.models import Member
from voting.nominations.models import NominationStatus

SLUG = "val-tomt"
BASE = "http://localhost"
KRETSAR = (("NORR", "Norr", 2), ("TOM", "Tomsta", 2), ("FA", "Fåby", 2))
# Per krets: (first name, nominated?)
MEMBERS = {
    "NORR": [("Anna", True), ("Bo", True), ("Cecilia", True), ("David", False)],
    "TOM": [("Tore", False), ("Tyra", False)],
    "FA": [("Frida", True), ("Fabian", False)],
}


def _election(clock: Any) -> dict[str, Any]:
    """The election with its members and approved nominations, before publication."""
    now = clock()
    with db.transaction() as s:
        election = make_election(s, now, slug=SLUG, kretsar=KRETSAR)
        emails = {}
        for krets, people in MEMBERS.items():
            for first, nominated in people:
                member = make_member(s, krets, first, "Svensson", now)
                emails[first] = (member.member_id, member.email)
                if nominated:
                    make_nomination(s, election, member, now, status=NominationStatus.APPROVED)
        facts = {
            "emails": emails,
            "published_at": election.nomination_closes + timedelta(minutes=1),
            "opens": election.voting_opens,
            "closes": election.voting_closes,
        }
    return facts


def _publish(facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    with db.transaction() as s:
        election = get_election(s, SLUG)
        items = publish_candidates(
            s, election, facts["published_at"], key_bits=2048, confirm_no_vote=True
        )
    return {item["krets"]: item for item in items}


def _tokens() -> dict[str, str]:
    tokens = {}
    for message in db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "voter_link")
    ):
        body = message_body(message)
        assert body is not None
        tokens[message.member_id] = body.split(f"{BASE}/rosta/", 1)[1].split()[0]
    db.session.rollback()
    return tokens


def test_publishing_needs_a_confirmation_naming_each_krets_without_a_vote(app, clock):
    facts = _election(clock)
    with pytest.raises(NoVoteNotConfirmed) as caught, db.transaction() as s:
        publish_candidates(s, get_election(s, SLUG), facts["published_at"], key_bits=2048)
    lines = caught.value.without_vote
    assert len(lines) == 2
    assert any("Tomsta (TOM)" in line and "inga godkända kandidater" in line for line in lines)
    assert any("Fåby (FA)" in line and "1 godkänd kandidat för 2 platser" in line for line in lines)
    assert not any("NORR" in line for line in lines)
    published = sa.select(AuditEntry).where(AuditEntry.type == "candidates.published")
    assert db.session.scalar(published) is None
    assert get_election(db.session, SLUG).candidates_published_at is None


def test_the_rule_is_logged_as_the_manifest_states_it(app, clock):
    facts = _election(clock)
    published = _publish(facts)
    manifest = services.manifest(db.session, get_election(db.session, SLUG))
    by_krets = {c["krets"]["code"]: c for c in manifest["contests"]}
    for krets, item in published.items():
        for field in ("seats", "min_selections", "max_selections", "substitutes"):
            assert item[field] == by_krets[krets][field], (krets, field)
    # A vote is held only in NORR; the other two keep the configured rule (never 0), unused.
    assert (by_krets["NORR"]["min_selections"], by_krets["NORR"]["max_selections"]) == (2, 2)
    assert (by_krets["TOM"]["min_selections"], by_krets["TOM"]["candidates"]) == (2, [])
    assert len(by_krets["FA"]["candidates"]) == 1
    assert by_krets["FA"]["min_selections"] == 2


def test_members_without_a_vote_get_a_notice_once_and_no_link(app, clock):
    facts = _election(clock)
    _publish(facts)
    with db.transaction() as s:
        election = get_election(s, SLUG)
        assert send_links(s, election, facts["published_at"], BASE, by="cli") == 4  # NORR only
    with db.transaction() as s:
        assert send_links(s, get_election(s, SLUG), facts["published_at"], BASE, by="cli") == 0
    linked = set(db.session.scalars(sa.select(VoterLink.member_id)))
    assert linked == {facts["emails"][n][0] for n in ("Anna", "Bo", "Cecilia", "David")}
    notices = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == NO_VOTE_KIND)
    ).all()
    assert sorted(n.member_id for n in notices) == sorted(
        facts["emails"][n][0] for n in ("Tore", "Tyra", "Frida", "Fabian")
    )
    tore = next(n for n in notices if n.member_id == facts["emails"]["Tore"][0])
    body = message_body(tore)
    assert body is not None
    assert "ingen omröstning" in body
    assert "godkändes inga kandidater" in body
    assert "/rosta/" not in body
    fabian = next(n for n in notices if n.member_id == facts["emails"]["Fabian"][0])
    assert "Frida Svensson" in (message_body(fabian) or "")
    sent = db.session.scalars(
        sa.select(AuditEntry.body).where(AuditEntry.type == "links.sent").order_by(AuditEntry.seq)
    )
    assert [json.loads(b)["data"] for b in sent] == [
        {"count": 4, "no_vote_notices": 4, "by": "cli"},
        {"count": 0, "no_vote_notices": 0, "by": "cli"},
    ]
    db.session.rollback()
    # No reminder and no resend in a krets without a vote either.
    clock.set(facts["opens"] + timedelta(hours=1))
    with db.transaction() as s:
        assert remind(s, get_election(s, SLUG), clock(), BASE, by="cli") == 4
    tyra = db.session.get_one(Member, facts["emails"]["Tyra"][0])
    with pytest.raises(NoVote), db.transaction() as s:
        resend_link(s, get_election(s, SLUG), tyra, clock(), BASE)


def test_no_signature_and_no_ballot_in_a_krets_without_a_vote(app, clock):
    facts = _election(clock)
    _publish(facts)
    election = get_election(db.session, SLUG)
    election_id = election.id
    tom = next(c.id for c in election.contests if c.krets_code == "TOM")
    db.session.rollback()
    clock.set(facts["opens"] + timedelta(hours=1))
    with db.transaction() as s:
        freeze_roll(s, get_election(s, SLUG), clock(), by="cli")
    tore, anna = facts["emails"]["Tore"][0], facts["emails"]["Anna"][0]
    with pytest.raises(NoVote), db.transaction() as s:
        services.blind_sign(s, tore, election_id, str(tom), {}, clock())
    with pytest.raises(NoVote), db.transaction() as s:
        services.cast(s, str(tom), {"ballot": "", "msg_prefix": "", "signature": ""}, clock())
    response = app.test_client().post(
        f"/api/v1/contests/{tom}/ballots", json={"ballot": "", "msg_prefix": "", "signature": ""}
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "no_vote"
    # A member of NORR is refused in TOM for the krets, before anything else.
    with pytest.raises(WrongKrets), db.transaction() as s:
        services.blind_sign(s, anna, election_id, str(tom), {}, clock())


def test_a_client_parses_only_its_own_contest(app, clock):
    facts = _election(clock)
    _publish(facts)
    manifest = services.manifest(db.session, get_election(db.session, SLUG))
    by_krets = {c["krets"]["code"]: c for c in manifest["contests"]}
    # Another contest in a shape this client cannot read does not stop a NORR voter...
    by_krets["FA"]["seats"] = "två"
    parsed = parse_manifest(SLUG, manifest)
    assert parsed.contest(by_krets["NORR"]["id"]).rule.min_selections == 2
    # ...and a contest without a vote is refused with a reason, before any signing.
    with pytest.raises(ClientError, match="no vote is held"):
        parsed.contest(by_krets["TOM"]["id"])


def test_an_election_with_kretsar_without_a_vote_runs_to_a_verified_record(
    app, clock, runner, tmp_path, monkeypatch
):
    facts = _election(clock)
    published = _publish(facts)
    with db.transaction() as s:
        send_links(s, get_election(s, SLUG), facts["published_at"], BASE, by="cli")
    tokens = _tokens()
    clock.set(facts["opens"] + timedelta(hours=1))
    client = app.test_client()
    norr = published["NORR"]["candidates"]
    for first, choices in (("Anna", norr[:2]), ("Bo", norr[1:]), ("David", norr[::2])):
        member_id = facts["emails"][first][0]
        voter = VoterClient(BASE, tokens[member_id], transport=flask_transport(client))
        me = voter.voter()
        voter.vote(me["election"], me["contest"], choices)
    after = facts["closes"] + timedelta(hours=1)
    clock.set(after)
    with db.transaction() as s:
        sealed = seal_board(s, get_election(s, SLUG), after, by="cli")
    # The count on the command line, which says it in the protocol's words.
    counted_cli = runner.invoke(args=["tally", SLUG, "--seed", "kula 7"])
    assert counted_cli.exit_code == 0, counted_cli.output
    assert "TOM: Ingen omröstning: 0 kandidater för 2 platser. 2 platser står tomma" in (
        counted_cli.output
    )
    assert "FA: Ingen omröstning: 1 kandidat för 2 platser. Kandidaten valdes" in counted_cli.output
    with db.transaction() as s:
        election = get_election(s, SLUG)
        result = stored_result(s, election)
        publish_results(s, election, after, by="cli")
    seal = {c["krets"]: c for c in sealed["contests"]}
    assert (seal["TOM"]["ballots"], seal["TOM"]["signatures_issued"], seal["TOM"]["roll_size"]) == (
        0,
        0,
        2,
    )
    assert (seal["FA"]["ballots"], seal["FA"]["roll_size"]) == (0, 2)
    counted = {c["krets"]: c for c in result["contests"]}
    assert counted["TOM"]["elected"] == []
    assert counted["TOM"]["ersattare"] == []
    assert counted["FA"]["elected"] == published["FA"]["candidates"]
    assert counted["FA"]["ersattare"] == []
    assert len(counted["NORR"]["elected"]) == 2
    assert len(counted["NORR"]["ersattare"]) == 1

    # The results say it plainly: on the page, in the protocol.
    election = get_election(db.session, SLUG)
    rows = {k["krets"]: k for k in view_model(db.session, election, result)}
    assert (rows["NORR"]["vote_held"], rows["TOM"]["vote_held"], rows["FA"]["vote_held"]) == (
        True,
        False,
        False,
    )
    assert (rows["TOM"]["empty_seats"], rows["FA"]["empty_seats"]) == (2, 1)
    page = client.get(f"/val/{SLUG}/resultat").get_data(as_text=True)
    assert "Ingen omröstning: inga kandidater" in page
    assert "kandidaterna valdes utan omröstning" in page
    assert "1 plats står tom" in page
    # With the core font the protocol's text sits in the page stream as latin-1.
    monkeypatch.setattr(results_service, "FONT", tmp_path / "no-font.ttf")
    pdf = protocol_pdf(db.session, election, result, after, compress=False)
    said = "Ingen omröstning: 0 kandidater för 2 platser. 2 platser står tomma"
    assert said.encode("latin-1") in pdf
    assert "Kandidaten valdes utan omröstning.".encode("latin-1") in pdf

    outcome = runner.invoke(args=["election", "export", SLUG, "-o", str(tmp_path / "r.json")])
    assert outcome.exit_code == 0, outcome.output
    record = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    checks = verifier.verify_record(record, expected_fingerprint=record["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    board = {b["krets"]: b["ballots"] for b in record["board"]}
    assert (len(board["NORR"]), board["TOM"], board["FA"]) == (3, [], [])
