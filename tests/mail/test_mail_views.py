"""The committee's mail page: access per role, counts, failures, bounces, correction and resend."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.ballot.conftest import AFTER, setup_voting
from tests.conftest import make_app
from tests.factories import make_staff_quick
from voting.admin.mail_views import form_prefix
from voting.admin.services import start_session
from voting.ballot.models import LinkMove, VoterLink
from voting.db import db
from voting.log.models import AuditEntry
from voting.mail.delivery import deliver_due
from voting.mail.models import MailStatus, OutboxMessage
from voting.members.models import Member

ROLES = ("anonymous", "auditor", "committee", "admin")
PAGE = "/admin/val/{slug}/epost"


@pytest.fixture
def voting(app, clock, rsa_keys, smtp):
    return setup_voting(app, clock, rsa_keys, "http://localhost")


def _deliver(app, clock):
    return deliver_due(app.extensions["db"]["sessionmaker"], app.config, clock)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _bounce_s1(app, clock, smtp):
    """S1's address is refused at send time; everyone else's mail goes out."""
    smtp.reject.add("S1@example.org")
    report = _deliver(app, clock)
    assert (report.sent, report.failed) == (5, 1)


def _correct(client, slug, member_id, email, resend=True, prefix=None):
    prefix = prefix or form_prefix(member_id)
    data = {"prefix": prefix, f"{prefix}-member_id": member_id, f"{prefix}-email": email}
    if resend:
        data[f"{prefix}-resend"] = "y"
    return client.post(PAGE.format(slug=slug) + "/ratta", data=data)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_access(client, voting, login_as, role, method):
    if role != "anonymous":
        login_as(role)
    before = _count(AuditEntry)
    if method == "GET":
        response = client.get(PAGE.format(slug=voting.slug))
    else:
        response = _correct(client, voting.slug, "S2", "ny.adress@example.org")
    if role == "anonymous":
        assert response.status_code == 302
        assert response.location.startswith("/admin/login?next=")
    elif role == "auditor":
        assert response.status_code == 403  # the page names members: committee only
    else:
        assert response.status_code == (200 if method == "GET" else 302)
    if method == "POST" and role in ("anonymous", "auditor"):
        assert _count(AuditEntry) == before
        assert db.session.get(Member, "S2").email.lower() == "s2@example.org"


def test_unknown_election_is_404(client, voting, login_as):
    login_as("committee")
    assert client.get(PAGE.format(slug="nope")).status_code == 404


def test_counts_failures_and_bounces(app, client, clock, voting, login_as, smtp):
    _bounce_s1(app, clock, smtp)
    login_as("committee")
    page = client.get(PAGE.format(slug=voting.slug)).get_data(as_text=True)
    counts = dict(re.findall(r"<dt>(\w+)</dt><dd>(\d+)</dd>", page))
    assert counts == {"Köade": "0", "Skickade": "5", "Misslyckade": "1"}
    # The failed mail and the bounced member, by name and member number.
    assert "Anna Berg" in page
    assert "(S1)" in page
    assert "rejected: 550" in page
    assert "S1@example.org" not in page.split("Misslyckade brev")[1]  # the error is redacted
    assert f'name="{form_prefix("S1")}-email"' in page
    assert "style=" not in page
    assert "<script" not in page


def test_the_election_page_links_the_mail_page(client, voting, login_as):
    login_as("committee")
    page = client.get(f"/admin/val/{voting.slug}/").get_data(as_text=True)
    assert f'href="/admin/val/{voting.slug}/epost"' in page
    login_as("auditor")
    page = client.get(f"/admin/val/{voting.slug}/").get_data(as_text=True)
    assert f'href="/admin/val/{voting.slug}/epost"' not in page


def test_mail_of_another_election_is_not_counted(app, client, clock, voting, login_as, smtp):
    with db.transaction() as s:
        from voting.mail.services import queue_mail

        queue_mail(s, to="x@example.org", subject="s", body="b", kind="test", now=clock())
    login_as("committee")
    page = client.get(PAGE.format(slug=voting.slug)).get_data(as_text=True)
    assert "<dt>Köade</dt><dd>6</dd>" in page


def test_correct_and_resend(app, client, clock, voting, login_as, smtp):
    _bounce_s1(app, clock, smtp)
    assert db.session.get(Member, "S1").email_bounced_at == clock()
    old_links = _count(VoterLink, VoterLink.member_id == "S1", VoterLink.revoked_at.is_(None))
    db.session.rollback()
    login_as("committee")

    response = _correct(client, voting.slug, "S1", " Anna.Berg@Example.ORG ")

    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    member = db.session.get(Member, "S1")
    assert member.email == "anna.berg@example.org"
    assert member.email_bounced_at is None
    assert old_links == 1
    # The link went out before the address changed: moving it waits for a second member.
    (move_id,) = db.session.scalars(select(LinkMove.id)).all()
    db.session.rollback()
    login_as("committee")
    approve = PAGE.format(slug=voting.slug) + f"/flytt/{move_id}/godkann"
    assert client.post(approve).status_code == 302
    live = db.session.scalars(
        select(VoterLink).where(VoterLink.member_id == "S1", VoterLink.revoked_at.is_(None))
    ).all()
    assert len(live) == 1
    queued = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == MailStatus.QUEUED)
    ).all()
    # The notice goes to the new address only: the old one bounced.
    assert [(m.to_addr, m.member_id, m.kind) for m in queued] == [
        ("anna.berg@example.org", "S1", "email_changed"),
        ("anna.berg@example.org", "S1", "voter_link"),
    ]
    events = db.session.scalars(select(AuditEntry.type)).all()
    assert events.count("member.email_changed") == 1
    assert events.count("links.resent") == 1
    bodies = " ".join(db.session.scalars(select(AuditEntry.body)).all())
    assert "anna.berg" not in bodies.lower()
    assert "S1@" not in bodies
    db.session.rollback()
    assert _deliver(app, clock).sent == 2
    assert len(smtp.to("anna.berg@example.org")) == 2
    page = client.get(PAGE.format(slug=voting.slug)).get_data(as_text=True)
    assert "Inga studsade adresser." in page


def test_correct_without_resend(app, client, clock, voting, login_as, smtp):
    _bounce_s1(app, clock, smtp)
    login_as("committee")
    response = _correct(client, voting.slug, "S1", "anna@example.org", resend=False)
    assert response.status_code == 302
    assert db.session.get(Member, "S1").email_bounced_at is None
    # Only the notice of the change, to the new address (the old one bounced); no link.
    assert _count(OutboxMessage, OutboxMessage.status == MailStatus.QUEUED) == 1
    assert _count(OutboxMessage, OutboxMessage.kind == "email_changed") == 1


def test_any_member_by_number(app, client, clock, voting, login_as, smtp):
    login_as("committee")
    response = _correct(client, voting.slug, "B2", "filip@example.org", prefix="other")
    assert response.status_code == 302
    assert db.session.get(Member, "B2").email == "filip@example.org"
    response = _correct(client, voting.slug, "NOPE", "x@example.org", prefix="other")
    assert response.status_code == 409
    assert "ingen medlem har numret NOPE" in response.get_data(as_text=True)


def test_resend_after_the_close_changes_nothing(app, client, clock, voting, login_as, smtp):
    _bounce_s1(app, clock, smtp)
    clock.set(AFTER)
    login_as("committee")
    response = _correct(client, voting.slug, "S1", "anna@example.org")
    assert response.status_code == 409
    assert "röstningen har stängt" in response.get_data(as_text=True)
    member = db.session.get(Member, "S1")
    assert member.email.lower() == "s1@example.org"  # rolled back whole
    assert member.email_bounced_at is not None


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    address=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}", fullmatch=True),
        st.from_regex(r"[a-z]{1,8}@@[a-z]{1,8}\.se", fullmatch=True),
    )
)
def test_invalid_addresses_are_refused(app, client, clock, voting, login_as, smtp, address):
    login_as("committee")
    response = _correct(client, voting.slug, "S2", address)
    assert response.status_code == 400
    assert db.session.get(Member, "S2").email.lower() == "s2@example.org"
    db.session.rollback()


def test_correction_needs_a_csrf_token(request, database_url, clock, tmp_path, rsa_keys):
    sink = request.getfixturevalue("_smtp_server")
    csrf_app = make_app(database_url, clock, sink.port, tmp_path, WTF_CSRF_ENABLED=True)
    with csrf_app.app_context():
        setup_voting(csrf_app, clock, rsa_keys, "http://localhost")
        with db.transaction() as s:
            uid = make_staff_quick(s, "committee", clock()).id
        client = csrf_app.test_client()
        with client.session_transaction() as cookie:
            start_session(cookie, SimpleNamespace(id=uid, session_epoch=0), clock())
        response = _correct(client, "val-2027", "B2", "filip@example.org", prefix="other")
        assert response.status_code == 400
        assert db.session.get(Member, "B2").email.lower() == "b2@example.org"
        db.session.rollback()
        page = client.get(PAGE.format(slug="val-2027")).get_data(as_text=True)
        token = re.search(r'name="other-csrf_token" type="hidden" value="([^"]+)"', page)
        assert token is not None
        response = client.post(
            PAGE.format(slug="val-2027") + "/ratta",
            data={
                "prefix": "other",
                "other-member_id": "B2",
                "other-email": "filip@example.org",
                "other-csrf_token": token.group(1),
            },
        )
        assert response.status_code == 302
        assert db.session.get(Member, "B2").email == "filip@example.org"
    csrf_app.extensions["db"]["engine"].dispose()
