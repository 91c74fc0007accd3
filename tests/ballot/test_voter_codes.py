"""Voter codes: made at the freeze and at each addition, committed to in the log, told to their
member (mail, ballot page, a resent link), published after the seal, and checked by the record.

The ghost-vote test is the point of it all: a signature issued in a non-voter's name, written
straight into the database, gives a record that verifies, with that member's code on the list
of codes issued a signature, where the member can see it.
"""

from __future__ import annotations

import json
import re
from datetime import date

import flask_babel
import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from auditlog import verify as verifier
from auditlog.votercodes import CODE_RE, codes_hash, list_hash
from tests.audit.test_record import SLUG, counted_election, export
from voting.ballot import codes, services
from voting.ballot.links import resend_link
from voting.ballot.models import RollCommitment, RollEntry, SignatureIssued
from voting.crypto import pseudonym
from voting.db import db
from voting.elections.services import get_election
from voting.lifecycle import results as results_service
from voting.log.models import AuditEntry
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.members.models import Member

from .conftest import AFTER, BEFORE, DURING
from .test_tally_app import cast_all, run_tally, seal


def _codes_by_member(slug: str) -> dict[str, str]:
    election = get_election(db.session, slug)
    rows = db.session.execute(select(RollEntry.member_id, RollEntry.code_enc)).all()
    found = {m: codes.read_code(election, m, enc) for m, enc in rows}
    db.session.rollback()
    return {m: c for m, c in found.items() if c is not None}


def _events(slug: str, kind: str) -> list[dict]:
    return [
        json.loads(body)["data"]
        for body in db.session.scalars(
            select(AuditEntry.body)
            .where(AuditEntry.log == slug, AuditEntry.type == kind)
            .order_by(AuditEntry.seq)
        )
    ]


def _mails(member_id: str) -> list[str]:
    bodies = [
        message_body(m) or ""
        for m in db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.member_id == member_id, OutboxMessage.kind == "voter_link")
            .order_by(OutboxMessage.id)
        )
    ]
    db.session.rollback()
    return bodies


def _latest_salt(contest_id: int) -> str:
    return db.session.scalars(
        select(RollCommitment.salt)
        .where(RollCommitment.contest_id == contest_id)
        .order_by(RollCommitment.size.desc())
    ).first()


def test_the_freeze_gives_every_member_a_code_stored_only_encrypted(voting, krets_members):
    by_member = _codes_by_member(voting.slug)
    assert sorted(by_member) == sorted(m for ms in krets_members.values() for m in ms)
    assert all(CODE_RE.fullmatch(code) for code in by_member.values())
    assert len(set(by_member.values())) == len(by_member)  # unique in the election
    for entry in db.session.scalars(select(RollEntry)):
        code = by_member[entry.member_id]
        assert code.encode() not in entry.code_enc
        assert entry.code_lookup == codes.code_lookup(code)
        assert code not in entry.code_lookup
    # A ciphertext moved to another member's row does not decrypt there.
    election = get_election(db.session, voting.slug)
    s1 = db.session.scalars(select(RollEntry).where(RollEntry.member_id == "S1")).one()
    with pytest.raises(InvalidTag):
        codes.read_code(election, "S2", s1.code_enc)


def test_the_freeze_commits_to_each_contests_codes(voting, krets_members):
    by_member = _codes_by_member(voting.slug)
    [frozen] = _events(voting.slug, "roll.frozen")
    for item in frozen["contests"]:
        members = krets_members[item["krets"]]
        contest_id = int(item["contest"])
        roll = sorted(by_member[m] for m in members)
        assert item["size"] == len(members)
        assert item["codes_hash"] == codes_hash(roll, _latest_salt(contest_id))
    # The codes themselves are nowhere in the log.
    log = " ".join(db.session.scalars(select(AuditEntry.body)))
    assert not any(code in log for code in by_member.values())


def test_the_code_is_in_the_voting_mail_and_on_the_ballot_page(voting, client):
    by_member = _codes_by_member(voting.slug)
    for member_id, code in by_member.items():
        [body] = _mails(member_id)
        swedish, _, english = body.partition("-- \n")
        assert f"Din väljarkod: {code}\n" in swedish
        assert f"http://localhost/val/{voting.slug}/kontrollera" in swedish
        assert f"Your voter code is {code}." in english
    client.get(f"/rosta/{voting.tokens['S1']}")
    page = client.get("/rosta").get_data(as_text=True)
    assert f'<code class="voter-code">{by_member["S1"]}</code>' in page
    assert f'href="/val/{voting.slug}/kontrollera"' in page
    assert by_member["S2"] not in page


def test_a_resent_link_keeps_the_code(voting, clock):
    before = _codes_by_member(voting.slug)["S2"]
    with db.transaction() as s:
        member = s.get_one(Member, "S2")
        resend_link(s, get_election(s, voting.slug), member, DURING, "http://localhost")
    first, second = _mails("S2")
    assert first.split("/rosta/")[1].split()[0] != second.split("/rosta/")[1].split()[0]
    assert f"Din väljarkod: {before}\n" in second
    assert _codes_by_member(voting.slug)["S2"] == before


def _add(slug: str, member_id: str, krets: str) -> None:
    with db.transaction() as s:
        member = Member(
            member_id=member_id,
            first_name="Sen",
            last_name="Tillagd",
            email=f"{member_id}@example.org",
            krets_code=krets,
            updated_at=BEFORE,
        )
        s.add(member)
        s.flush()
        services.add_to_roll(s, get_election(s, slug), member, DURING, by="cli")


def test_a_member_added_to_the_roll_gets_a_code_and_the_log_commits_to_it(voting):
    before = _codes_by_member(voting.slug)
    _add(voting.slug, "S9", "SODERMALM")
    _add(voting.slug, "S10", "SODERMALM")
    after = _codes_by_member(voting.slug)
    assert set(after) - set(before) == {"S9", "S10"}
    assert len(set(after.values())) == len(after)
    first, second = _events(voting.slug, "roll.member_added")
    assert (first["size"], second["size"]) == (5, 6)
    assert "S9" not in json.dumps(first)
    assert after["S9"] not in json.dumps(first)
    soder = int(voting.contests["SODERMALM"])
    roll = sorted(after[m] for m in ("S1", "S2", "S3", "S4", "S9", "S10"))
    assert second["codes_hash"] == codes_hash(roll, _latest_salt(soder))
    # Each commitment has its own salt: the first does not open with the final salt.
    without_s10 = sorted(c for m, c in after.items() if m != "S10" and m[0] == "S")
    assert first["codes_hash"] != codes_hash(without_s10, _latest_salt(soder))
    sizes = db.session.scalars(
        select(RollCommitment.size).where(RollCommitment.contest_id == soder)
    ).all()
    assert sorted(sizes) == [4, 5, 6]


def test_a_code_already_taken_is_drawn_again(voting, monkeypatch):
    """The unique constraint on the code's keyed hash decides; the addition draws anew."""
    taken = _codes_by_member(voting.slug)["B1"]
    fresh = "2222-2222-22"
    drawn = iter([taken, fresh])
    monkeypatch.setattr(codes, "new_code", lambda: next(drawn))
    _add(voting.slug, "S9", "SODERMALM")
    assert _codes_by_member(voting.slug)["S9"] == fresh


def test_the_lists_are_published_after_the_seal_only(voting, voter_client, clock, client):
    url = f"/api/v1/elections/{voting.slug}/voter-codes"
    assert client.get(url).status_code == 404
    assert client.get(url).get_json()["error"] == "not_found"
    page = client.get(f"/val/{voting.slug}/kontrollera").get_data(as_text=True)
    assert 'id="check-not-yet"' in page
    assert 'id="check-form"' not in page
    cast_all(voting, voter_client)
    clock.set(AFTER)
    assert client.get(url).status_code == 404  # closed, not yet sealed
    seal(voting.slug)
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    lists = {c["krets"]: c for c in response.get_json()["contests"]}
    by_member = _codes_by_member(voting.slug)
    assert lists["SODERMALM"]["roll_codes"] == sorted(
        by_member[m] for m in ("S1", "S2", "S3", "S4")
    )
    assert lists["SODERMALM"]["issued_codes"] == sorted(by_member[m] for m in ("S1", "S2", "S3"))
    assert lists["BROMMA"]["issued_codes"] == sorted(by_member[m] for m in ("B1", "B2"))
    page = client.get(f"/val/{voting.slug}/kontrollera").get_data(as_text=True)
    assert f'data-codes-url="{url}"' in page
    # The code field has no name: a form sent without the script carries no code.
    field = re.search(r"<input[^>]*id=\"check-code\"[^>]*>", page).group(0)
    assert "name=" not in field
    guide = client.get(f"/val/{voting.slug}/kontrollera/hjalp").get_data(as_text=True)
    assert "Kontrollera att ingen har röstat i ditt namn" in guide
    assert 'href="mailto:valberedningen@example.org"' in guide
    flask_babel.refresh()  # the test's app context keeps the locale on g; a request would not
    english = client.get(f"/val/{voting.slug}/kontrollera/hjalp?lang=en").get_data(as_text=True)
    assert "Check that nobody voted in your name" in english


def ghost_signature(app, slug: str, member_id: str) -> None:
    """A signature issued in ``member_id``'s name without them: a row written straight into the
    database over its own connection (as a thief of the database and DATA_KEY, or an insider,
    could), not through the voting API."""
    election = get_election(db.session, slug)
    contest_id = db.session.scalar(
        select(RollEntry.contest_id).where(
            RollEntry.election_id == election.id, RollEntry.member_id == member_id
        )
    )
    db.session.rollback()
    engine = sa.create_engine(app.config["DATABASE_URL"])
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(SignatureIssued.__table__).values(
                    contest_id=contest_id,
                    voter=pseudonym(member_id, slug),
                    blinded_hash="0" * 64,
                    issued_on=date(2027, 1, 20),
                )
            )
    finally:
        engine.dispose()


def member_id_of(first_name: str) -> str:
    member_id = db.session.scalar(select(Member.member_id).where(Member.first_name == first_name))
    db.session.rollback()
    return str(member_id)


@pytest.mark.own_database  # ghost_signature writes on a connection of its own
def test_a_ghost_vote_verifies_and_shows_on_the_members_code(app, clock, runner, tmp_path):
    """Gun never votes; a signature in her name is written into the database before the seal.
    The record verifies, and her code is on her krets's list of codes issued a signature."""
    facts = counted_election(
        app, clock, before_seal=lambda: ghost_signature(app, SLUG, member_id_of("Gun"))
    )
    record = export(runner, tmp_path / "record.json")
    checks = verifier.verify_record(record, expected_fingerprint=record["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert [c.name for c in checks] == list(verifier.CHECKS)
    syd = next(c for c in record["contests"] if c["contest"] == facts["contests"]["SYD"])
    by_member = _codes_by_member(SLUG)
    gun = by_member[member_id_of("Gun")]
    # Eva and Filip voted; the seal counts three signatures, and nothing says whose the third is
    # but the code list: Gun's code is on it.
    assert syd["signatures_issued"] == 3
    [board] = [b["ballots"] for b in record["board"] if b["contest"] == syd["contest"]]
    assert len(board) == 2
    assert gun in syd["issued_codes"]
    voters = {by_member[member_id_of(name)] for name in ("Eva", "Filip")}
    assert set(syd["issued_codes"]) == voters | {gun}
    sealed = json.loads([e for e in record["log"]["entries"] if '"type":"board.sealed"' in e][0])[
        "data"
    ]["contests"]
    [seal_syd] = [c for c in sealed if c["contest"] == syd["contest"]]
    assert seal_syd["issued_codes_hash"] == list_hash(syd["issued_codes"])
    # No member, pseudonym or time beside a code anywhere in the record's lists.
    assert set(syd) == {
        "contest",
        "krets",
        "signatures_issued",
        "roll_size",
        "roll_codes",
        "roll_codes_salt",
        "issued_codes",
        "postal_envelopes",  # counts, and paper ballots as choices alone
        "postal_set_aside",
        "paper_ballots",
        "paper_invalid",
    }
    # The public list the check page reads is the record's.
    lists = app.test_client().get(f"/api/v1/elections/{SLUG}/voter-codes").get_json()
    [listed] = [c for c in lists["contests"] if c["contest"] == syd["contest"]]
    assert listed["issued_codes"] == syd["issued_codes"]
    assert listed["roll_codes"] == syd["roll_codes"]


def test_a_signature_on_no_roll_entry_leaves_the_issued_list_short(app, clock, runner, tmp_path):
    """A signature for a pseudonym that is on no roll has no code: the record then fails."""

    def stray() -> None:
        election = get_election(db.session, SLUG)
        contest = next(c for c in election.contests if c.krets_code == "SYD")
        with db.transaction() as s:
            s.add(
                SignatureIssued(
                    contest_id=contest.id,
                    voter="m:" + "0" * 24,
                    blinded_hash="0" * 64,
                    issued_on=date(2027, 1, 20),
                )
            )

    facts = counted_election(app, clock, before_seal=stray)
    record = export(runner, tmp_path / "record.json")
    failed = {c.name: c.detail for c in verifier.verify_record(record) if not c.ok}
    syd = facts["contests"]["SYD"]
    assert failed == {
        "voter codes": f"contest {syd}: 2 issued codes, but the seal gives 3 signatures issued"
    }


def test_the_results_and_the_protocol_say_where_to_check(
    voting, voter_client, clock, client, tmp_path, monkeypatch
):
    cast_all(voting, voter_client)
    clock.set(AFTER)
    seal(voting.slug)
    result = run_tally(voting.slug)
    with db.transaction() as s:
        results_service.publish_results(s, get_election(s, voting.slug), AFTER, by="cli")
    page = client.get(f"/val/{voting.slug}/resultat").get_data(as_text=True)
    assert f'href="/val/{voting.slug}/kontrollera"' in page
    assert f'href="/val/{voting.slug}/kontrollera/hjalp"' in page
    # With the core font the protocol's text sits in the page stream as latin-1.
    monkeypatch.setattr(results_service, "FONT", tmp_path / "no-font.ttf")
    pdf = results_service.protocol_pdf(
        db.session, get_election(db.session, voting.slug), result, AFTER, compress=False
    )
    assert b"/val/val-2027/kontrollera" in pdf
    assert "väljarkod".encode("latin-1") in pdf


@pytest.mark.own_database  # threads, each with a connection of its own
def test_concurrent_additions_to_one_roll_take_turns(app, voting):
    """Real threads adding members to one contest at once: each addition commits to a roll that
    holds every earlier one, so the last commitment opens with every code, each size once."""
    import threading

    added = [f"S{n}" for n in range(20, 26)]
    with db.transaction() as s:
        for member_id in added:
            s.add(
                Member(
                    member_id=member_id,
                    first_name="Sen",
                    last_name="Tillagd",
                    email=f"{member_id}@example.org",
                    krets_code="SODERMALM",
                    updated_at=BEFORE,
                )
            )
    sessions = app.extensions["db"]["sessionmaker"]
    barrier = threading.Barrier(len(added))
    errors: list[BaseException] = []

    def add(member_id: str) -> None:
        with app.app_context(), sessions() as s:
            try:
                barrier.wait()
                member = s.get_one(Member, member_id)
                services.add_to_roll(s, get_election(s, voting.slug), member, DURING, by="cli")
                s.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=add, args=(m,)) for m in added]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    events = _events(voting.slug, "roll.member_added")
    assert sorted(e["size"] for e in events) == list(range(5, 5 + len(added)))
    by_member = _codes_by_member(voting.slug)
    soder = int(voting.contests["SODERMALM"])
    roll = sorted(c for m, c in by_member.items() if m.startswith("S"))
    last = max(events, key=lambda e: e["size"])
    assert last["codes_hash"] == codes_hash(roll, _latest_salt(soder))
    assert len(set(by_member.values())) == len(by_member)
