"""Committee review: approve, reject, publish, their guards, mails and audit events."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from auditlog import canonical_json, verify_chain
from tests.admin.conftest import close_nominations
from tests.factories import make_election, make_member, make_nomination, make_staff
from voting.crypto import pseudonym
from voting.elections.services import get_election
from voting.errors import NoVoteNotConfirmed, TransitionBlocked
from voting.lifecycle.candidates import (
    contests_without_vote,
    no_vote_line,
    publication_blockers,
    publication_warnings,
    publish_candidates,
)
from voting.log.services import entries
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.nominations import review
from voting.nominations.errors import CandidatesPublished, ReviewError
from voting.nominations.models import Nomination, NominationStatus


def _events(session, slug, kind):
    return [json.loads(e.body)["data"] for e in entries(session, slug, kind)]


def _mails(session, to):
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.to_addr == to)))


def test_list_nominations_filters_by_krets_and_status(db_session, seed):
    election = get_election(db_session, seed.slug)
    everything = review.list_nominations(db_session, election)
    # By krets, then in Swedish alphabetical order: Ceder before Åberg.
    assert [n.id for n in everything] == [seed.approved, seed.unanswered, seed.awaiting]
    soder = review.list_nominations(db_session, election, krets="SODERMALM")
    assert {n.id for n in soder} == {seed.awaiting, seed.unanswered}
    waiting = review.list_nominations(db_session, election, status="awaiting_review")
    assert [n.id for n in waiting] == [seed.awaiting]
    both = review.list_nominations(db_session, election, krets="BROMMA", status="awaiting_review")
    assert both == []
    with pytest.raises(ReviewError, match="^krets:"):
        review.list_nominations(db_session, election, krets="MARS")
    with pytest.raises(ReviewError, match="^status:"):
        review.list_nominations(db_session, election, status="maybe")


def test_merged_submissions_show_every_nominator(db_session, seed):
    nomination = db_session.get(Nomination, seed.awaiting)
    merged = review.merged_submissions(nomination)
    assert nomination.nominator_count == 2
    assert {s.nominator.full_name if s.nominator else s.forening.name for s in merged} == {
        "Nora Nominerare",
        "S-föreningen Söder",
    }


def test_approve_mails_the_nominee_and_logs_a_pseudonym(db_session, seed, clock):
    nomination = db_session.get(Nomination, seed.awaiting)
    review.approve(db_session, nomination, None, clock())
    db_session.commit()
    assert nomination.status == NominationStatus.APPROVED
    assert nomination.reviewed_at == clock()
    (mail,) = _mails(db_session, seed.nominee_email)
    assert mail.kind == "nomination_approved"
    assert "godkänt" in message_body(mail)
    assert "approved your candidacy" in message_body(mail)
    assert ", constituency " in message_body(mail)  # not "krets" in the English part
    (event,) = _events(db_session, seed.slug, "nomination.approved")
    assert event == {
        "nomination": seed.awaiting,
        "nominee": pseudonym(nomination.member_id, seed.slug),
        "by": "cli",
    }
    raw = entries(db_session, seed.slug, "nomination.approved")[0].body
    # As a word: a short member id may turn up by chance inside the hex of a hash or pseudonym.
    assert not re.search(rf"\b{nomination.member_id}\b", raw)
    assert "Åberg" not in raw
    assert "anna@" not in raw


def test_reject_stores_and_mails_the_reason_but_keeps_it_off_the_log(db_session, seed, clock):
    user, _secret = make_staff(db_session, "committee", clock())
    nomination = db_session.get(Nomination, seed.awaiting)
    reason = "Anna Åberg är inte medlem i kretsen längre."
    review.reject(db_session, nomination, user, f"  {reason}\n", clock())
    db_session.commit()
    assert nomination.status == NominationStatus.REJECTED
    assert nomination.review_reason == reason
    (mail,) = _mails(db_session, seed.nominee_email)
    assert mail.kind == "nomination_rejected"
    assert reason in message_body(mail)
    (event,) = _events(db_session, seed.slug, "nomination.rejected")
    assert event["by"] == user.id
    assert event["nomination"] == seed.awaiting
    body = entries(db_session, seed.slug, "nomination.rejected")[0].body
    assert "medlem" not in body
    assert "Åberg" not in body


@pytest.mark.parametrize("reason", ["", "   ", "x" * (review.MAX_REASON_LENGTH + 1)])
def test_reject_needs_a_reason(db_session, seed, clock, reason):
    nomination = db_session.get(Nomination, seed.awaiting)
    with pytest.raises(ReviewError, match="^reason:"):
        review.reject(db_session, nomination, None, reason, clock())
    assert nomination.status == NominationStatus.AWAITING_REVIEW
    assert _mails(db_session, seed.nominee_email) == []


def test_state_guards(db_session, seed, clock):
    now = clock()
    unanswered = db_session.get(Nomination, seed.unanswered)
    with pytest.raises(ReviewError, match="kan inte godkännas"):
        review.approve(db_session, unanswered, None, now)
    with pytest.raises(ReviewError, match="kan inte avslås"):
        review.reject(db_session, unanswered, None, "Inte svarat", now)
    approved = db_session.get(Nomination, seed.approved)
    with pytest.raises(ReviewError, match="godkänd"):
        review.approve(db_session, approved, None, now)
    # Approved -> rejected -> approved again: the committee may correct itself before publication.
    review.reject(db_session, approved, None, "Fel krets", now)
    with pytest.raises(ReviewError):
        review.reject(db_session, approved, None, "Igen", now)
    review.approve(db_session, approved, None, now)
    assert approved.status == NominationStatus.APPROVED
    assert approved.review_reason is None
    declined = make_nomination(
        db_session,
        get_election(db_session, seed.slug),
        make_member(db_session, "BROMMA", "Dan", "Dahl", now),
        now,
        status=NominationStatus.DECLINED,
    )
    with pytest.raises(ReviewError):
        review.approve(db_session, declined, None, now)


def test_publication_blockers(db_session, seed, clock):
    election = get_election(db_session, seed.slug)
    blockers = publication_blockers(db_session, election, clock())
    assert [b.code for b in blockers] == ["nomination_not_closed", "awaiting_review"]
    assert "Nomineringsperioden har inte stängt" in str(blockers[0])
    assert blockers[1].params == {"krets": "Södermalm (SODERMALM)", "num": 1}
    assert "1 nominering väntar" in str(blockers[1])
    # The last second of the period still blocks; the next does not.
    assert publication_blockers(db_session, election, election.nomination_closes)
    review.approve(db_session, db_session.get(Nomination, seed.awaiting), None, clock())
    after = election.nomination_closes + timedelta(seconds=1)
    assert publication_blockers(db_session, election, after) == []
    with pytest.raises(TransitionBlocked) as info:
        publish_candidates(db_session, election, clock())
    assert len(info.value.blockers) == 1
    assert election.candidates_published_at is None


def test_warnings_do_not_block(db_session, clock):
    now = clock()
    election = make_election(db_session, now, slug="tomt", kretsar=(("NORR", "Norr", 2),))
    make_nomination(
        db_session,
        election,
        make_member(db_session, "NORR", "Eva", "Ek", now),
        now,
        status=NominationStatus.AWAITING_NOMINEE,
    )
    warnings = publication_warnings(db_session, election)
    assert any("1 nominerad har inte svarat" in w for w in warnings)
    (line,) = [no_vote_line(c, n) for c, n in contests_without_vote(db_session, election)]
    assert line == (
        "Norr (NORR): inga godkända kandidater för 2 platser, ingen omröstning; "
        "platserna står tomma."
    )
    later = election.nomination_closes + timedelta(minutes=1)
    assert publication_blockers(db_session, election, later) == []
    with pytest.raises(NoVoteNotConfirmed):
        publish_candidates(db_session, election, later)
    published = publish_candidates(db_session, election, later, confirm_no_vote=True)
    assert published[0]["candidates"] == []
    rule = {
        k: published[0][k] for k in ("seats", "min_selections", "max_selections", "substitutes")
    }
    assert rule == {"seats": 2, "min_selections": 2, "max_selections": 2, "substitutes": 2}
    assert published[0]["list_hash"] == hashlib.sha256(b"[]").hexdigest()


def test_publish_freezes_the_lists_and_logs_their_hashes(db_session, seed, clock):
    now = clock()
    election = get_election(db_session, seed.slug)
    # A second Södermalm candidate, to check the order: Swedish alphabet, å after z.
    zeta = make_nomination(
        db_session, election, make_member(db_session, "SODERMALM", "Zoe", "Zetterberg", now), now
    )
    review.approve(db_session, db_session.get(Nomination, seed.awaiting), None, now)
    review.approve(db_session, zeta, None, now)
    db_session.commit()
    later = close_nominations(clock)
    published = publish_candidates(db_session, election, later, confirm_no_vote=True)
    db_session.commit()
    assert election.candidates_published_at == later

    soder = next(c for c in election.contests if c.krets_code == "SODERMALM")
    assert [n.member.last_name for n in review.candidate_list(db_session, soder)] == [
        "Zetterberg",
        "Åberg",
    ]
    (event,) = _events(db_session, seed.slug, "candidates.published")
    assert event["by"] == "cli"
    assert event["contests"] == published
    for item in event["contests"]:
        contest = next(c for c in election.contests if str(c.id) == item["contest"])
        expected = [
            {"id": str(n.id), "name": f"{n.member.first_name} {n.member.last_name}"}
            for n in review.candidate_list(db_session, contest)
        ]
        recomputed = hashlib.sha256(canonical_json(expected)).hexdigest()
        assert item["list_hash"] == recomputed == contest.list_hash
        assert item["candidates"] == [e["id"] for e in expected]
        assert item["krets"] == contest.krets_code
    body = entries(db_session, seed.slug, "candidates.published")[0].body
    assert "Åberg" not in body
    assert "Zetterberg" not in body
    verify_chain(e.body.encode() for e in entries(db_session, seed.slug))

    # Frozen: nothing may change, and a second publication is refused.
    with pytest.raises(CandidatesPublished):
        review.approve(db_session, db_session.get(Nomination, seed.approved), None, later)
    with pytest.raises(CandidatesPublished):
        review.reject(db_session, zeta, None, "För sent", later)
    with pytest.raises(TransitionBlocked, match="publicerades redan"):
        publish_candidates(db_session, election, later, confirm_no_vote=True)
    assert len(_events(db_session, seed.slug, "candidates.published")) == 1


def test_rejected_nomination_can_be_reapproved_before_publication_only(db_session, seed, clock):
    nomination = db_session.get(Nomination, seed.awaiting)
    review.reject(db_session, nomination, None, "Saknar underlag", clock())
    db_session.commit()
    later = close_nominations(clock)
    election = get_election(db_session, seed.slug)
    publish_candidates(db_session, election, later, confirm_no_vote=True)
    db_session.commit()
    with pytest.raises(CandidatesPublished):
        review.approve(db_session, nomination, None, later)
    assert nomination.status == NominationStatus.REJECTED
