"""Postal ballots: envelopes with four eyes, the one-signature rule, batches, double entry."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ballots.client import ApiError
from tests.ballot.conftest import AFTER
from voting.ballot.codes import code_lists
from voting.ballot.models import SignatureIssued
from voting.db import db
from voting.elections.services import get_election
from voting.errors import TransitionBlocked
from voting.lifecycle.roll import send_links
from voting.lifecycle.seal import seal_board
from voting.lifecycle.tally import compute
from voting.log.models import AuditEntry
from voting.postal import services
from voting.postal.errors import PostalError
from voting.postal.models import COUNTED, PENDING, SET_ASIDE, PaperBallot, PostalEnvelope


def _election():
    return get_election(db.session, "val-2027")


def _register_and_confirm(postal, clock, member_id: str) -> PostalEnvelope:
    (a, _), (b, _) = postal.staff[:2]
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        services.register_envelope(s, election, member_id, clock(), by=a)
        envelope = services.confirm_envelope(s, election, member_id, clock(), by=b)
        status = envelope.status
    db.session.rollback()
    assert status in (COUNTED, SET_ASIDE)
    return envelope


def test_an_envelope_needs_a_second_committee_member(postal, clock):
    (a, _), (b, _) = postal.staff[:2]
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        envelope = services.register_envelope(s, election, "S4", clock(), by=a)
        assert envelope.status == PENDING
        with pytest.raises(PostalError) as same:
            services.confirm_envelope(s, election, "S4", clock(), by=a)
        assert same.value.code == "four_eyes"
        # Still pending, and no signature yet: the member could still vote online.
        assert s.scalar(select(func.count()).select_from(SignatureIssued)) == 0
        done = services.confirm_envelope(s, election, "S4", clock(), by=b)
        assert done.status == COUNTED
        assert done.confirmed_by == b
        with pytest.raises(PostalError) as again:
            services.register_envelope(s, election, "S4", clock(), by=b)
        assert again.value.code == "already_registered"


def test_the_database_refuses_the_same_account_twice(postal, clock):
    (a, _) = postal.staff[0]
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        envelope = services.register_envelope(s, election, "S4", clock(), by=a)
        envelope_id = envelope.id
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.execute(
            sa.update(PostalEnvelope)
            .where(PostalEnvelope.id == envelope_id)
            .values(status=COUNTED, confirmed_by=a, confirmed_at=clock())
        )


def test_online_signature_refused_after_a_confirmed_envelope(postal, clock, voter_client):
    _register_and_confirm(postal, clock, "S4")
    voting = postal.voting
    with pytest.raises(ApiError) as exc:
        voter_client(voting.tokens["S4"]).vote(
            voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
        )
    assert exc.value.status == 409
    assert exc.value.code == "already_signed"


def test_envelope_of_a_member_who_voted_online_is_set_aside(postal, clock, voter_client):
    voting = postal.voting
    voter_client(voting.tokens["B2"]).vote(
        voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][:1]
    )
    envelope = _register_and_confirm(postal, clock, "B2")
    assert envelope.status == SET_ASIDE
    counts = services.envelope_counts(db.session, _election())
    assert counts[int(voting.contests["BROMMA"])] == {SET_ASIDE: 1}
    # One signature-issued row: the online one, not replaced by the envelope.
    hashes = db.session.scalars(select(SignatureIssued.blinded_hash)).all()
    assert len(hashes) == 1
    assert hashes != [services.POSTAL]


def test_the_paper_voters_code_is_among_the_issued_codes(postal, clock):
    _register_and_confirm(postal, clock, "S3")
    election = _election()
    lists = code_lists(db.session, election)
    sodermalm = lists[int(postal.voting.contests["SODERMALM"])]
    assert len(sodermalm.issued) == 1
    from voting.ballot.codes import member_code

    assert sodermalm.issued == [member_code(db.session, election, "S3")]


def test_only_postal_members_on_the_roll_can_send_an_envelope(postal, clock):
    (a, _) = postal.staff[0]
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        with pytest.raises(PostalError) as email_member:
            services.register_envelope(s, election, "S1", clock(), by=a)
        assert email_member.value.code == "not_postal"
        with pytest.raises(PostalError) as unknown:
            services.register_envelope(s, election, "NOPE", clock(), by=a)
        assert unknown.value.code == "unknown_member"


def test_log_names_counts_never_members(postal, clock):
    _register_and_confirm(postal, clock, "S4")
    bodies = [
        json.loads(b)
        for b in db.session.scalars(
            select(AuditEntry.body)
            .where(AuditEntry.type.like("postal.%"))
            .order_by(AuditEntry.log, AuditEntry.seq)  # heap order is no insertion order
        )
    ]
    assert [b["type"] for b in bodies] == [
        "postal.envelope_registered",
        "postal.envelope_confirmed",
    ]
    assert bodies[1]["data"]["counted"] == 1
    assert "S4" not in json.dumps(bodies)


def _two_envelopes_in_sodermalm(postal, clock):
    for member_id in ("S3", "S4"):
        _register_and_confirm(postal, clock, member_id)


def test_a_small_batch_waits_for_the_close(postal, clock, app):
    _two_envelopes_in_sodermalm(postal, clock)
    (a, _) = postal.staff[0]
    contest = int(postal.voting.contests["SODERMALM"])
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        with pytest.raises(PostalError) as small:
            services.open_batch(s, election, contest, 2, clock(), batch_min=20, by=a)
        assert small.value.code == "batch_too_small"
        # At or above the minimum it may open before the close.
        batch = services.open_batch(s, election, contest, 2, clock(), batch_min=2, by=a)
        assert batch.envelopes == 2
        with pytest.raises(PostalError) as more:
            services.open_batch(s, election, contest, 1, clock(), batch_min=1, by=a)
        assert more.value.code == "too_many_envelopes"
    assert app.config["POSTAL_BATCH_MIN"] == 20


def test_marks_are_typed_as_candidate_numbers(postal):
    election = _election()
    contest = next(c for c in election.contests if c.krets_code == "SODERMALM")
    ids = services.candidate_ids(db.session, contest)
    assert json.loads(services.parse_marks("3 1", contest, ids)) == {
        "choices": sorted([ids[2], ids[0]])
    }
    assert json.loads(services.parse_marks("1,2,3", contest, ids)) == {"invalid": "too_many"}
    assert json.loads(services.parse_marks("2", contest, ids)) == {"invalid": "too_few"}
    assert json.loads(services.parse_marks("0", contest, ids)) == {"invalid": "too_few"}
    assert json.loads(services.parse_marks("X", contest, ids)) == {"invalid": "unreadable"}
    for typo, code in (("4", "bad_number"), ("1 1", "number_twice"), ("", "no_marks")):
        with pytest.raises(PostalError) as exc:
            services.parse_marks(typo, contest, ids)
        assert exc.value.code == code


def test_double_entry_mismatch_is_resolved_before_the_batch_is_accepted(postal, clock):
    _two_envelopes_in_sodermalm(postal, clock)
    clock.set(AFTER)
    (a, _), (b, _), (c, _) = postal.staff
    contest = int(postal.voting.contests["SODERMALM"])
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        batch = services.open_batch(s, election, contest, 2, clock(), batch_min=20, by=a)
        services.enter_ballot(s, election, batch.id, 1, "1 2", clock(), by=a)
        services.enter_ballot(s, election, batch.id, 2, "1 3", clock(), by=a)
        with pytest.raises(PostalError) as same:
            services.enter_ballot(s, election, batch.id, 1, "1 2", clock(), by=a)
        assert same.value.code == "four_eyes"
        with pytest.raises(PostalError) as early:
            services.accept_batch(s, election, batch.id, clock(), by=c)
        assert early.value.code == "batch_not_ready"
        services.enter_ballot(s, election, batch.id, 1, "1 2", clock(), by=b)
        services.enter_ballot(s, election, batch.id, 2, "1 2 3", clock(), by=b)
        with pytest.raises(PostalError) as mismatch:
            services.accept_batch(s, election, batch.id, clock(), by=c)
        assert "differ: 2" in mismatch.value.message
        with pytest.raises(PostalError) as agreed:
            services.resolve_ballot(s, election, batch.id, 1, "1 3", clock(), by=c)
        assert agreed.value.code == "no_mismatch"
        services.resolve_ballot(s, election, batch.id, 2, "1 2 3", clock(), by=c)
        counts = services.accept_batch(s, election, batch.id, clock(), by=c)
        assert counts == {"ballots": 1, "invalid": 1}
        with pytest.raises(PostalError) as closed:
            services.enter_ballot(s, election, batch.id, 1, "1", clock(), by=c)
        assert closed.value.code == "accepted"
        batch_id = batch.id
    values = services.paper_values(db.session, [batch_id])
    assert sorted(json.loads(v).get("invalid", "") for v in values) == ["", "too_many"]


def test_the_database_refuses_a_second_entry_by_the_first_person(postal, clock):
    _two_envelopes_in_sodermalm(postal, clock)
    clock.set(AFTER)
    (a, _) = postal.staff[0]
    contest = int(postal.voting.contests["SODERMALM"])
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        batch = services.open_batch(s, election, contest, 2, clock(), batch_min=20, by=a)
        services.enter_ballot(s, election, batch.id, 1, "1 2", clock(), by=a)
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.execute(sa.update(PaperBallot).values(second='{"choices":[]}', second_by=a))


def test_the_count_waits_for_every_envelope_and_then_counts_paper(postal, clock, voter_client):
    voting = postal.voting
    voter_client(voting.tokens["S1"]).vote(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )
    _two_envelopes_in_sodermalm(postal, clock)
    clock.set(AFTER)
    with db.transaction() as s:
        seal = seal_board(s, get_election(s, postal.slug), clock(), by="cli")
    sodermalm = next(c for c in seal["contests"] if c["krets"] == "SODERMALM")
    assert sodermalm["signatures_issued"] == 3  # one online, two envelopes
    assert (sodermalm["postal_envelopes"], sodermalm["postal_set_aside"]) == (2, 0)
    with pytest.raises(TransitionBlocked, match="not opened in a batch"):
        compute(db.session, _election(), "seed", clock())
    (a, _), (b, _) = postal.staff[:2]
    contest = int(voting.contests["SODERMALM"])
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        batch = services.open_batch(s, election, contest, 2, clock(), batch_min=20, by=a)
        services.enter_ballot(s, election, batch.id, 1, "1 3", clock(), by=a)
        services.enter_ballot(s, election, batch.id, 2, "x", clock(), by=a)
        batch_id = batch.id
    with pytest.raises(TransitionBlocked, match=f"postal batch {batch_id} is not accepted"):
        compute(db.session, _election(), "seed", clock())
    with db.transaction() as s:
        election = get_election(s, postal.slug)
        services.enter_ballot(s, election, batch_id, 1, "1 3", clock(), by=b)
        services.enter_ballot(s, election, batch_id, 2, "x", clock(), by=b)
        services.accept_batch(s, election, batch_id, clock(), by=b)
    result = compute(db.session, _election(), "seed", clock())
    counted = next(c for c in result["contests"] if c["krets"] == "SODERMALM")
    assert (counted["ballots_cast"], counted["paper_ballots"], counted["paper_invalid"]) == (
        1,
        1,
        1,
    )
    assert counted["turnout"] == "75.0"  # three of four on the roll
    votes = counted["votes"]
    assert counted["ballots_counted"] == 2
    published = services.candidate_ids(
        db.session, next(c for c in _election().contests if c.krets_code == "SODERMALM")
    )
    expected = dict.fromkeys(published, 0)
    for c in [*voting.candidates["SODERMALM"][:2], published[0], published[2]]:
        expected[c] += 1
    assert votes == expected
    bromma = next(c for c in result["contests"] if c["krets"] == "BROMMA")
    assert "paper_ballots" not in bromma  # no envelopes: the result is as before


def test_the_cli_registers_confirms_enters_and_accepts(postal, clock, runner, tmp_path):
    (_, a), (_, b), (_, c) = postal.staff
    slug = postal.slug
    ok = runner.invoke(args=["postal", "register", slug, "S3", "S4", "--by", a])
    assert ok.exit_code == 0, ok.output
    same = runner.invoke(args=["postal", "confirm", slug, "--all", "--by", a])
    assert "Confirmed 0 envelopes" in same.output
    done = runner.invoke(args=["postal", "confirm", slug, "--all", "--by", b])
    assert done.exit_code == 0, done.output
    assert "Confirmed 2 envelopes" in done.output
    early = runner.invoke(
        args=["postal", "batch", slug, "--krets", "SODERMALM", "--envelopes", "2", "--by", a]
    )
    assert early.exit_code != 0
    assert "at least 20 envelopes" in early.output
    clock.set(AFTER)
    opened = runner.invoke(
        args=["postal", "batch", slug, "--krets", "SODERMALM", "--envelopes", "2", "--by", a]
    )
    assert opened.exit_code == 0, opened.output
    batch_id = opened.output.split()[1].rstrip(":")
    first = tmp_path / "first.txt"
    first.write_text("# batch\n1: 1 2\n2: 2 3\n", encoding="utf-8")
    second = tmp_path / "second.txt"
    second.write_text("1: 1 2\n2: 3\n", encoding="utf-8")
    assert (
        runner.invoke(args=["postal", "enter", slug, batch_id, str(first), "--by", a]).exit_code
        == 0
    )
    refused = runner.invoke(args=["postal", "enter", slug, batch_id, str(second), "--by", a])
    assert refused.exit_code != 0
    assert "line 1" in refused.output
    entered = runner.invoke(args=["postal", "enter", slug, batch_id, str(second), "--by", b])
    assert entered.exit_code == 0, entered.output
    blocked = runner.invoke(args=["postal", "accept", slug, batch_id, "--by", c])
    assert blocked.exit_code != 0
    assert "differ: 2" in blocked.output
    resolved = runner.invoke(args=["postal", "resolve", slug, batch_id, "2", "2 3", "--by", c])
    assert resolved.exit_code == 0, resolved.output
    accepted = runner.invoke(args=["postal", "accept", slug, batch_id, "--by", c])
    assert accepted.exit_code == 0, accepted.output
    assert "2 valid ballots, 0 invalid" in accepted.output
    status = runner.invoke(args=["postal", "status", slug])
    assert "SODERMALM: 2 envelopes confirmed" in status.output
    assert "accepted" in status.output
    unknown = runner.invoke(args=["postal", "register", slug, "S1", "--by", "nobody@x.org"])
    assert "no staff account" in unknown.output


def test_postal_members_are_sent_no_link_nor_reminder(postal, clock):
    """The committee chose paper for them: no emailed link goes out, at the open or later."""
    from voting.ballot import links
    from voting.ballot.models import VoterLink

    def live(member_id):
        return db.session.scalar(
            select(func.count())
            .select_from(VoterLink)
            .where(VoterLink.member_id == member_id, VoterLink.revoked_at.is_(None))
        )

    def issued(member_id):
        return db.session.scalar(
            select(func.count()).select_from(VoterLink).where(VoterLink.member_id == member_id)
        )

    before = {m: issued(m) for m in ("S1", "S3", "S4", "B2")}
    with db.transaction() as s:
        reminded = links.remind(s, _election(), clock(), "http://localhost", by="cli")
    assert reminded > 0
    # A reminder is a new link: the others get one, the postal members none.
    after = {m: issued(m) for m in before}
    assert after == {**before, "S1": before["S1"] + 1}
    with db.transaction() as s:
        s.execute(sa.update(VoterLink).values(revoked_at=clock()))
    with db.transaction() as s:
        sent = send_links(s, _election(), clock(), "http://localhost", by="cli")
    assert sent > 0
    assert [live(m) for m in ("S3", "S4", "B2")] == [0, 0, 0]
    assert live("S1") == 1
