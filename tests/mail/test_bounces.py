"""Bounces: a refused address marks the member; correcting the address clears the mark.

Also: voting-link mails carry their election and member, the token is only hashed at rest and
the body encrypted, and a mail that ran out of retries is failed and shown to the committee.
"""

from __future__ import annotations

import hashlib
import socket
from datetime import timedelta

import pytest
from email_validator import EmailNotValidError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from tests.ballot.conftest import setup_voting
from voting.ballot import links
from voting.ballot.models import VoterLink
from voting.db import db
from voting.elections.models import Election
from voting.lifecycle.roll import send_links
from voting.mail.addresses import change_email
from voting.mail.delivery import deliver_due
from voting.mail.models import MailStatus, OutboxMessage
from voting.mail.services import message_body, queue_mail
from voting.members.importing import import_members
from voting.members.models import Member

MEMBERS = ("S1", "S2", "S3", "S4", "B1", "B2")


@pytest.fixture
def voting(app, clock, rsa_keys, smtp):
    return setup_voting(app, clock, rsa_keys, "http://localhost")


def _deliver(app, clock, **config):
    return deliver_due(app.extensions["db"]["sessionmaker"], {**app.config, **config}, clock)


def _member(member_id):
    db.session.rollback()
    return db.session.get(Member, member_id)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_link_mails_carry_election_and_member_and_keep_the_token_hashed(app, voting):
    election = db.session.scalars(select(Election)).one()
    mails = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.member_id)).all()
    assert sorted(m.member_id for m in mails) == sorted(MEMBERS)
    assert {m.election_id for m in mails} == {election.id}
    assert {m.kind for m in mails} == {"voter_link"}
    hashes = set(db.session.scalars(select(VoterLink.token_hash)))
    for mail in mails:
        token = message_body(mail).split("/rosta/", 1)[1].split()[0]
        assert token.encode() not in mail.body_enc  # encrypted at rest
        assert hashlib.sha256(token.encode()).hexdigest() in hashes  # only the hash stored
        assert token not in hashes


def test_a_refused_address_marks_the_member(app, clock, voting, smtp):
    smtp.reject.add("S2@example.org")

    report = _deliver(app, clock)

    assert (report.sent, report.failed) == (5, 1)
    assert _member("S2").email_bounced_at == clock()
    assert all(_member(m).email_bounced_at is None for m in MEMBERS if m != "S2")
    failed = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == MailStatus.FAILED)
    ).one()
    assert failed.member_id == "S2"
    assert failed.last_error.startswith("rejected: 550")


def test_a_deferred_address_is_not_a_bounce(app, clock, voting, smtp, monkeypatch):
    async def defer(self, server, session, envelope, address, options):
        return "450 4.2.1 Mailbox busy"

    monkeypatch.setattr(type(smtp), "handle_RCPT", defer)
    report = _deliver(app, clock)
    assert report.retry == 6
    assert all(_member(m).email_bounced_at is None for m in MEMBERS)


def test_mail_without_a_member_marks_no_one(app, db_session, clock, smtp, voting):
    smtp.reject.add("S3@example.org")
    db_session.execute(update(OutboxMessage).values(status=MailStatus.SENT, body_enc=None))
    queue_mail(db_session, to="S3@example.org", subject="s", body="b", kind="t", now=clock())
    db_session.commit()

    assert _deliver(app, clock).failed == 1
    assert _member("S3").email_bounced_at is None


def test_an_address_corrected_meanwhile_is_not_marked(app, db_session, clock, smtp, voting):
    smtp.reject.add("S4@example.org")
    member = db_session.get(Member, "S4")
    change_email(db_session, member, "david@example.org", clock())  # after the mail was queued
    db_session.commit()

    # The link and the notice of the change, both to the old address, are refused.
    assert _deliver(app, clock).failed == 2
    assert _member("S4").email_bounced_at is None


def test_change_email_clears_the_mark_and_checks_the_address(app, db_session, clock, voting):
    db_session.execute(update(Member).values(email_bounced_at=clock()))
    member = db_session.get(Member, "S1")

    with pytest.raises(EmailNotValidError):
        change_email(db_session, member, "not an address", clock())
    assert member.email_bounced_at is not None

    assert change_email(db_session, member, member.email, clock()) is True  # checked: try again
    assert member.email_bounced_at is None
    assert change_email(db_session, member, member.email, clock()) is False  # nothing to do
    assert change_email(db_session, member, " Anna@Example.ORG", clock()) is True
    assert member.email == "anna@example.org"
    db_session.commit()


def test_a_register_import_with_a_new_address_clears_the_mark(app, db_session, clock, voting):
    db_session.execute(update(Member).values(email_bounced_at=clock()))
    # As the import stores it (lower-case), so that the same address in the file is no change.
    db_session.execute(
        update(Member).where(Member.member_id == "S2").values(email="s2@example.org")
    )
    db_session.commit()
    rows = [
        {
            "member_id": mid,
            "personnummer": "",
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": "",
            "krets": krets,
            "forening": "",
        }
        for mid, first, last, email, krets in (
            ("S1", "Anna", "Berg", "anna.ny@example.org", "SODERMALM"),
            ("S2", "Bo", "Åberg", "S2@example.org", "SODERMALM"),
        )
    ]
    import_members(db_session, rows, clock(), by="cli")
    db_session.commit()

    assert _member("S1").email_bounced_at is None
    assert _member("S2").email_bounced_at is not None  # same address: still refused


def test_links_and_reminders_skip_a_bounced_address(app, db_session, clock, voting, smtp):
    smtp.reject.add("B1@example.org")
    _deliver(app, clock)
    election = db_session.scalars(select(Election)).one()

    count = links.remind(db_session, election, clock(), "http://localhost", by="cli")
    db_session.commit()

    assert count == 5  # everyone who has not voted, except the bounced address
    queued = db_session.scalars(
        select(OutboxMessage.member_id).where(OutboxMessage.status == MailStatus.QUEUED)
    ).all()
    db_session.rollback()
    assert sorted(queued) == sorted(m for m in MEMBERS if m != "B1")
    # A newly added member with a bounced address gets a link but no mail.
    db_session.execute(delete(OutboxMessage).where(OutboxMessage.status == MailStatus.QUEUED))
    db_session.execute(
        update(VoterLink).where(VoterLink.member_id == "B1").values(revoked_at=clock())
    )
    assert send_links(db_session, election, clock(), "http://localhost", by="cli") == 1
    assert (
        db_session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == MailStatus.QUEUED)
        ).all()
        == []
    )
    db_session.rollback()


def test_failed_after_the_last_retry_is_shown_to_the_committee(
    app, client, clock, voting, smtp, login_as
):
    port = _closed_port()
    assert _deliver(app, clock, SMTP_PORT=port, MAIL_MAX_ATTEMPTS=2).retry == 6
    clock.set(clock() + timedelta(minutes=3))  # past the first back-off (2 minutes)
    report = _deliver(app, clock, SMTP_PORT=port, MAIL_MAX_ATTEMPTS=2)
    assert report.failed == 6
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert {(r.status, r.attempts, r.body_enc) for r in rows} == {(MailStatus.FAILED, 2, None)}
    assert all(r.last_error.startswith("gave up after 2 attempts") for r in rows)
    assert all(_member(m).email_bounced_at is None for m in MEMBERS)  # not refused, unreachable
    db.session.rollback()
    # Never tried again, and visible on the committee's mail page.
    clock.set(clock() + timedelta(days=1))
    assert _deliver(app, clock).total == 0
    login_as("committee")
    page = client.get("/admin/val/val-2027/epost").get_data(as_text=True)
    assert "<dt>Misslyckade</dt><dd>6</dd>" in page
    assert page.count("gave up after 2 attempts") == 6


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(refused=st.sets(st.sampled_from(MEMBERS)))
def test_exactly_the_refused_members_are_marked(app, db_session, clock, voting, smtp, refused):
    db_session.execute(update(Member).values(email_bounced_at=None))
    db_session.execute(delete(OutboxMessage))
    for member in db_session.scalars(select(Member)):
        queue_mail(
            db_session,
            to=member.email,
            subject="s",
            body="b",
            kind="t",
            now=clock(),
            member_id=member.member_id,
        )
    db_session.commit()
    smtp.clear()
    smtp.reject.update(f"{m}@example.org" for m in refused)

    report = _deliver(app, clock)

    assert report.failed == len(refused)
    marked = set(
        db_session.scalars(select(Member.member_id).where(Member.email_bounced_at.is_not(None)))
    )
    db_session.rollback()
    assert marked == refused
