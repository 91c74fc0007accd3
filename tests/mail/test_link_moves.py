"""F1 (issue 11): one committee member cannot move a member's vote to an address of their own.

The attack as found: on the mail page a committee member corrects a member's address to their
own and resends the link; the old link stops working, nothing reaches the old address, the log
does not say who acted, and the new link votes. Now the old address and the new get a notice,
the log names the staff account, the link waits for a second committee member, the asker cannot
approve it, no move is approved in the last hours before the close, and the results count the
moves per krets in public.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select

from ballots.client import VoterClient
from tests.ballot.conftest import AFTER, flask_transport, setup_voting
from voting.admin.mail_views import form_prefix
from voting.ballot.models import LinkMove, VoterLink
from voting.db import db
from voting.elections.services import get_election
from voting.log.models import AuditEntry
from voting.log.services import REGISTER_LOG
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.members.models import Member

PAGE = "/admin/val/{slug}/epost"
ATTACKER = "valberedare@example.net"


@pytest.fixture
def voting(app, clock, rsa_keys, smtp):
    return setup_voting(app, clock, rsa_keys, "http://localhost")


def _count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _events(log: str, kind: str) -> list[dict]:
    db.session.rollback()
    bodies = db.session.scalars(
        select(AuditEntry.body)
        .where(AuditEntry.log == log, AuditEntry.type == kind)
        .order_by(AuditEntry.seq)
    )
    return [json.loads(body)["data"] for body in bodies]


def _redirect(client, slug: str, member_id: str, email: str):
    prefix = form_prefix(member_id)
    data = {
        "prefix": prefix,
        f"{prefix}-member_id": member_id,
        f"{prefix}-email": email,
        f"{prefix}-resend": "y",
    }
    return client.post(PAGE.format(slug=slug) + "/ratta", data=data, follow_redirects=True)


def _live_link_to(email: str) -> str | None:
    """The token of a queued voting link mail to ``email``, if any."""
    db.session.rollback()
    for message in db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.kind == "voter_link", OutboxMessage.to_addr == email
        )
    ):
        body = message_body(message) or ""
        return body.split("http://localhost/rosta/", 1)[1].split()[0]
    return None


def _decide(client, slug: str, move_id: int, decision: str):
    url = PAGE.format(slug=slug) + f"/flytt/{move_id}/{decision}"
    return client.post(url, follow_redirects=True)


def test_one_committee_member_cannot_redirect_a_vote(app, client, voting, login_as, clock):
    old_email = db.session.get_one(Member, "S3").email
    attacker = login_as("committee")
    page = _redirect(client, voting.slug, "S3", ATTACKER).get_data(as_text=True)
    assert "först när en annan ledamot" in page
    # No link went to the new address; the member's own link still works.
    assert _live_link_to(ATTACKER) is None
    assert _count(VoterLink, VoterLink.member_id == "S3", VoterLink.revoked_at.is_(None)) == 1
    # Both addresses are told, and the log names who changed the address.
    notices = db.session.scalars(
        select(OutboxMessage.to_addr).where(OutboxMessage.kind == "email_changed")
    ).all()
    assert sorted(notices) == sorted([old_email, ATTACKER])
    assert _events(REGISTER_LOG, "member.email_changed")[-1]["by"] == attacker
    (asked,) = _events(voting.slug, "links.move_asked")
    assert asked["by"] == attacker
    # The asker cannot approve their own request, by the page or by a forged POST.
    assert "Du bad om flytten" in client.get(PAGE.format(slug=voting.slug)).get_data(as_text=True)
    refused = _decide(client, voting.slug, asked["move"], "godkann")
    assert "samma ledamot som bad om flytten" in refused.get_data(as_text=True)
    assert _live_link_to(ATTACKER) is None

    # A second committee member, having checked with the member, approves: the link moves.
    second = login_as("committee")
    _decide(client, voting.slug, asked["move"], "godkann")
    token = _live_link_to(ATTACKER)
    assert token is not None
    resent = _events(voting.slug, "links.resent")[-1]
    assert (resent["by"], resent["move"]) == (second, asked["move"])
    decided = _events(voting.slug, "links.move_decided")[-1]
    assert (decided["by"], decided["approved"]) == (second, True)
    move = db.session.get_one(LinkMove, asked["move"])
    assert (move.status, move.asked_by, move.decided_by) == ("approved", attacker, second)
    # The moved link votes, like any link.
    voter = VoterClient("http://localhost", token, transport=flask_transport(app.test_client()))
    voter.vote(voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2])


def test_the_database_refuses_one_person_deciding_their_own_move(app, voting, login_as, clock):
    uid = login_as("committee")
    election_id = get_election(db.session, voting.slug).id
    db.session.rollback()
    with pytest.raises(sqlalchemy.exc.IntegrityError), db.transaction() as s:
        s.add(
            LinkMove(
                election_id=election_id,
                member_id="S3",
                asked_by=uid,
                asked_at=clock(),
                status="approved",
                decided_by=uid,
                decided_at=clock(),
            )
        )


def test_a_refused_move_sends_nothing(client, voting, login_as):
    login_as("committee")
    _redirect(client, voting.slug, "S3", ATTACKER)
    (asked,) = _events(voting.slug, "links.move_asked")
    login_as("committee")
    page = _decide(client, voting.slug, asked["move"], "avsla").get_data(as_text=True)
    assert "Avslaget" in page
    assert _live_link_to(ATTACKER) is None
    assert db.session.get_one(LinkMove, asked["move"]).status == "refused"


def test_no_move_in_the_last_hours_before_the_close(client, voting, login_as, clock):
    login_as("committee")
    _redirect(client, voting.slug, "S3", ATTACKER)
    (asked,) = _events(voting.slug, "links.move_asked")
    clock.set(AFTER - timedelta(hours=3))  # inside LINK_MOVE_CUTOFF_HOURS (24) of the close
    login_as("committee")
    page = _decide(client, voting.slug, asked["move"], "godkann").get_data(as_text=True)
    assert "de sista 24 timmarna före stängningen" in page
    assert _live_link_to(ATTACKER) is None
    # And no new request is taken then either.
    response = _redirect(client, voting.slug, "S4", "annan@example.net")
    assert response.status_code == 409
    assert _count(LinkMove, LinkMove.member_id == "S4") == 0


def test_a_correction_before_any_link_needs_no_second_person(client, voting, login_as):
    # A member added after the links went out has no link yet: the first one is no move.
    login_as("committee")
    member = db.session.get_one(Member, "S4")
    db.session.execute(
        VoterLink.__table__.delete().where(VoterLink.member_id == "S4")  # never had one
    )
    db.session.commit()
    assert member.member_id == "S4"
    _redirect(client, voting.slug, "S4", "ny@example.org")
    assert _live_link_to("ny@example.org") is not None
    assert _count(LinkMove) == 0
