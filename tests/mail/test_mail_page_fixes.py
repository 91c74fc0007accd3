"""The mail page: no new voting link for a member who has voted, counts that include the
nomination mails, an email-type address field, and the back link of the other admin pages."""

from __future__ import annotations

import re

import flask_babel
import pytest
from sqlalchemy import func, select

from ballots.client import VoterClient
from tests.ballot.conftest import flask_transport, setup_voting
from tests.nominations import conftest as nominations
from tests.nominations.conftest import SLUG, form_data, nominate_and_confirm
from voting.admin.mail_views import form_prefix
from voting.ballot.models import LinkMove, VoterLink
from voting.db import db
from voting.log.models import AuditEntry
from voting.mail.delivery import deliver_due
from voting.mail.models import MailStatus, OutboxMessage
from voting.members.models import Member

PAGE = "/admin/val/{slug}/epost"
# The nomination tests' election, open for nominations, with its small register.
register = nominations.register

VOTED = "Medlemmen har redan röstat i det här valet, så ingen ny röstlänk skickades."


@pytest.fixture
def voting(app, clock, rsa_keys, smtp):
    return setup_voting(app, clock, rsa_keys, "http://localhost")


def _count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _vote(app, voting, member_id: str, krets: str) -> None:
    """The member votes through the API, in a browser of their own."""
    voter = VoterClient(
        "http://localhost", voting.tokens[member_id], transport=flask_transport(app.test_client())
    )
    marks = 2 if krets == "SODERMALM" else 1  # as many as the krets's rule wants
    voter.vote(voting.slug, voting.contests[krets], voting.candidates[krets][:marks])


def _correct(client, slug, member_id, email, resend=True, prefix=None):
    prefix = prefix or form_prefix(member_id)
    data = {"prefix": prefix, f"{prefix}-member_id": member_id, f"{prefix}-email": email}
    if resend:
        data[f"{prefix}-resend"] = "y"
    return client.post(PAGE.format(slug=slug) + "/ratta", data=data, follow_redirects=True)


def _links(member_id: str) -> tuple[int, int]:
    """(live, revoked) voting links of the member."""
    live = _count(VoterLink, VoterLink.member_id == member_id, VoterLink.revoked_at.is_(None))
    revoked = _count(VoterLink, VoterLink.member_id == member_id, VoterLink.revoked_at.is_not(None))
    return live, revoked


def _queued_links() -> int:
    return _count(
        OutboxMessage,
        OutboxMessage.kind == "voter_link",
        OutboxMessage.status == MailStatus.QUEUED,
    )


# --- 1. A member who has voted gets no new link ---------------------------------------------


@pytest.mark.parametrize("prefix", [None, "other"])
def test_correcting_a_voter_keeps_the_address_and_sends_no_link(
    app, client, voting, login_as, prefix
):
    _vote(app, voting, "S3", "SODERMALM")
    queued, events = _queued_links(), _count(AuditEntry, AuditEntry.type == "links.resent")
    login_as("committee")

    response = _correct(client, voting.slug, "S3", "cecilia.ny@example.org", prefix=prefix)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Medlem S3 har fått en ny e-postadress. {VOTED}" in page
    assert "en ny röstlänk är köad" not in page
    db.session.rollback()
    assert db.session.get(Member, "S3").email == "cecilia.ny@example.org"
    assert _queued_links() == queued  # no mail to the new address
    assert _links("S3") == (1, 0)  # the old link still shows the member their signature day
    assert _count(AuditEntry, AuditEntry.type == "links.resent") == events
    assert _count(AuditEntry, AuditEntry.type == "member.email_changed") == 1


def test_a_plain_resend_to_a_voter_sends_nothing(app, client, voting, login_as):
    _vote(app, voting, "B1", "BROMMA")
    queued = _queued_links()
    login_as("committee")
    response = _correct(client, voting.slug, "B1", "B1@example.org")  # the same address
    assert VOTED in response.get_data(as_text=True)
    assert _queued_links() == queued
    assert _links("B1") == (1, 0)


def test_a_member_who_has_not_voted_still_gets_a_new_link(app, client, voting, login_as):
    _vote(app, voting, "S3", "SODERMALM")  # someone else in the same krets
    queued = _queued_links()
    login_as("committee")
    response = _correct(client, voting.slug, "S4", "david.ny@example.org")
    page = response.get_data(as_text=True)
    # A new address: the link moves there once a second committee member approves.
    assert "först när en annan ledamot i valberedningen har godkänt" in page
    assert "redan röstat" not in page
    assert _queued_links() == queued
    (move_id,) = db.session.scalars(select(LinkMove.id)).all()
    login_as("committee")
    client.post(PAGE.format(slug=voting.slug) + f"/flytt/{move_id}/godkann")
    assert _queued_links() == queued + 1
    assert _links("S4") == (1, 1)


def test_without_resend_the_page_does_not_say_whether_the_member_voted(
    app, client, voting, login_as
):
    _vote(app, voting, "S3", "SODERMALM")
    login_as("committee")
    response = _correct(client, voting.slug, "S3", "cecilia.ny@example.org", resend=False)
    page = response.get_data(as_text=True)
    assert "Medlem S3 har fått en ny e-postadress." in page
    assert "redan röstat" not in page


def test_the_voter_message_in_english(app, client, voting, login_as):
    _vote(app, voting, "S3", "SODERMALM")
    login_as("committee")
    flask_babel.refresh()  # the test's app context (and g) outlives the request
    client.get(PAGE.format(slug=voting.slug) + "?lang=en")
    page = _correct(client, voting.slug, "S3", "cecilia.ny@example.org").get_data(as_text=True)
    assert "has already voted" in page
    assert "redan röstat" not in page


def test_the_address_fields_are_email_inputs_without_autocomplete(
    app, client, clock, voting, login_as, smtp
):
    smtp.reject.add("S1@example.org")
    deliver_due(app.extensions["db"]["sessionmaker"], app.config, clock)
    login_as("committee")
    page = client.get(PAGE.format(slug=voting.slug)).get_data(as_text=True)
    tags = re.findall(r'<input[^>]*name="[^"]*-email"[^>]*>', page)
    assert len(tags) == 2  # S1's (bounced) and the form for any member
    for tag in tags:
        assert 'type="email"' in tag
        assert 'autocomplete="off"' in tag


# --- 4. The back link -------------------------------------------------------------------------


def test_the_back_link_is_all_elections_as_on_the_other_pages(client, voting, login_as):
    login_as("committee")
    page = client.get(PAGE.format(slug=voting.slug)).get_data(as_text=True)
    voting_page = client.get(f"/admin/val/{voting.slug}/rostning").get_data(as_text=True)
    back = '<p><a href="/admin/">Alla val</a></p>'
    assert back in voting_page
    assert page.split("<h1>", 1)[0].rstrip().endswith(back)


# --- 2. The nomination mails count on the election's page --------------------------------------


def _by_kind() -> dict[str, list[tuple[int | None, str | None]]]:
    db.session.rollback()
    result: dict[str, list[tuple[int | None, str | None]]] = {}
    for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
        result.setdefault(m.kind, []).append((m.election_id, m.member_id))
    return result


def test_nomination_mails_carry_the_election_and_count_on_its_page(
    app, client, clock, register, login_as, smtp
):
    url = f"/val/{SLUG}/nominera"
    # A member nominates (confirmed, so the nominee is invited), a förening nominates, and a
    # member naming nobody in the register is refused by mail. (An address in no register gets
    # no mail at all: tests/nominations/test_mail_rules.py.)
    assert nominate_and_confirm(client).status_code == 303
    refused = form_data(nominator_email="eva@example.org", nominee_identifier="9999")
    assert client.post(url, data=refused).status_code == 200
    forening = form_data(
        nominator_email="soder@example.org",
        nominating_as="forening",
        forening_id=str(register.forening_id),
    )
    assert client.post(url, data=forening).status_code == 200

    kinds = _by_kind()
    eid = register.election_id
    assert kinds["nomination_confirm"] == [(eid, "1001"), (eid, None)]
    assert kinds["nomination_refused"] == [(eid, None)]
    assert kinds["nominee_invite"] == [(eid, "1002")]
    total = sum(len(v) for v in kinds.values())
    assert total == 4

    smtp.reject.add("eva@example.org")
    db.session.rollback()  # end the test's read, so that the mail worker may write
    report = deliver_due(app.extensions["db"]["sessionmaker"], app.config, clock)
    assert (report.sent, report.failed) == (3, 1)
    login_as("committee")
    page = client.get(PAGE.format(slug=SLUG)).get_data(as_text=True)
    counts = dict(re.findall(r"<dt>(\w+)</dt><dd>(\d+)</dd>", page))
    assert counts == {"Köade": "0", "Skickade": "3", "Misslyckade": "1"}
    failed = page.split("Misslyckade brev", 1)[1]
    assert "<td>Nominering kunde inte tas emot</td>" in failed
    assert "eva@example.org" not in failed
