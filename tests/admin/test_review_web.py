"""The committee's pages: nominations, approve, reject, candidate lists, publication."""

from __future__ import annotations

import json

from sqlalchemy import select

from tests.admin.conftest import close_nominations
from voting.db import db
from voting.elections.models import Election
from voting.log.services import entries
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.nominations.models import Nomination, NominationStatus


def _reload(nomination_id):
    db.session.expire_all()
    return db.session.get(Nomination, nomination_id)


def test_nomination_list_shows_member_data_and_merged_nominators(client, seed, login_as):
    login_as("committee")
    page = client.get(f"/admin/val/{seed.slug}/nomineringar").get_data(as_text=True)
    nomination = _reload(seed.awaiting)
    for text in (
        seed.nominee_name,
        nomination.member_id,
        seed.nominee_email,
        "Södermalm",
        "Nora Nominerare",
        "S-föreningen Söder",
        "Engagerad och kunnig.",
        "Väntar på granskning",
    ):
        assert text in page, text
    assert f'action="/admin/nomineringar/{seed.awaiting}/godkann"' in page
    # No approve button for a nomination the nominee has not accepted.
    assert f"/admin/nomineringar/{seed.unanswered}/godkann" not in page


def test_nomination_list_filters(client, seed, login_as):
    login_as("committee")
    page = client.get(f"/admin/val/{seed.slug}/nomineringar?krets=BROMMA&status=approved").get_data(
        as_text=True
    )
    assert "Bo Berg" in page
    assert seed.nominee_name not in page
    bad = client.get(f"/admin/val/{seed.slug}/nomineringar?status=maybe")
    assert bad.status_code == 400
    assert "status:" in bad.get_data(as_text=True)
    assert client.get("/admin/val/nope/nomineringar").status_code == 404


def test_approve_by_web_mails_and_logs_the_user(client, seed, login_as):
    uid = login_as("committee")
    response = client.post(
        f"/admin/nomineringar/{seed.awaiting}/godkann", data={"krets": "SODERMALM"}
    )
    assert response.status_code == 302
    assert response.location == (
        f"/admin/val/{seed.slug}/nomineringar?krets=SODERMALM#n{seed.awaiting}"
    )
    assert _reload(seed.awaiting).status == NominationStatus.APPROVED
    (event,) = entries(db.session, seed.slug, "nomination.approved")
    assert json.loads(event.body)["data"]["by"] == uid
    mails = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_addr == seed.nominee_email)
    ).all()
    assert [m.kind for m in mails] == ["nomination_approved"]
    page = client.get(response.location).get_data(as_text=True)
    assert "är godkänd som kandidat" in page


def test_approve_in_wrong_state_flashes_an_error(client, seed, login_as):
    login_as("committee")
    response = client.post(f"/admin/nomineringar/{seed.unanswered}/godkann", follow_redirects=True)
    assert "kan inte godkännas" in response.get_data(as_text=True)
    assert _reload(seed.unanswered).status == NominationStatus.AWAITING_NOMINEE
    assert client.post("/admin/nomineringar/99999/godkann").status_code == 404


def test_reject_needs_a_reason_and_mails_it(client, seed, login_as):
    login_as("admin")
    url = f"/admin/nomineringar/{seed.awaiting}/avsla"
    form = client.get(url).get_data(as_text=True)
    assert 'aria-describedby="reason-hint"' in form
    empty = client.post(url, data={"reason": "  "})
    assert empty.status_code == 400
    page = empty.get_data(as_text=True)
    assert 'aria-invalid="true"' in page
    assert "reason-error" in page
    assert _reload(seed.awaiting).status == NominationStatus.AWAITING_REVIEW

    response = client.post(url, data={"reason": "Kandidaten är inte valbar."})
    assert response.status_code == 302
    nomination = _reload(seed.awaiting)
    assert nomination.status == NominationStatus.REJECTED
    assert nomination.review_reason == "Kandidaten är inte valbar."
    (mail,) = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_addr == seed.nominee_email)
    ).all()
    assert "Kandidaten är inte valbar." in message_body(mail)
    (event,) = entries(db.session, seed.slug, "nomination.rejected")
    assert "valbar" not in event.body


def test_publish_guard_page_lists_blockers_then_publishes(client, seed, login_as, clock):
    login_as("committee")
    url = f"/admin/val/{seed.slug}/publicera"
    page = client.get(url).get_data(as_text=True)
    assert "Nomineringsperioden har inte stängt" in page
    assert "Södermalm (SODERMALM): 1 nominering väntar på granskning" in page
    assert 'action="' + url + '"' not in page  # no button while blocked
    assert client.post(url, data={"confirm": "y"}).status_code == 409
    assert entries(db.session, seed.slug, "candidates.published") == []

    client.post(f"/admin/nomineringar/{seed.awaiting}/godkann")
    close_nominations(clock)
    assert client.get(url).status_code == 302  # two days on, the login has expired
    uid = login_as("committee")
    page = client.get(url).get_data(as_text=True)
    assert "Det här hindrar publiceringen" not in page
    assert "Kretsar utan omröstning" in page
    response = client.post(url, data={"confirm": "y", "confirm_no_vote": "y"})
    assert response.status_code == 302
    assert response.location == f"/admin/val/{seed.slug}/kandidater"
    (event,) = entries(db.session, seed.slug, "candidates.published")
    assert json.loads(event.body)["data"]["by"] == uid
    hashes = {c["krets"]: c["list_hash"] for c in json.loads(event.body)["data"]["contests"]}
    lists = client.get(response.location).get_data(as_text=True)
    assert seed.nominee_name in lists
    assert "Bo Berg" in lists
    assert hashes["SODERMALM"] in lists
    assert hashes["BROMMA"] in lists

    # Frozen: the buttons are gone and a forged POST is refused.
    nominations = client.get(f"/admin/val/{seed.slug}/nomineringar").get_data(as_text=True)
    assert "/godkann" not in nominations
    refused = client.post(
        f"/admin/nomineringar/{seed.approved}/avsla",
        data={"reason": "Ångrar oss"},
        follow_redirects=True,
    )
    assert "kan inte längre ändras" in refused.get_data(as_text=True)
    assert _reload(seed.approved).status == NominationStatus.APPROVED


def test_auditor_reads_candidate_lists(client, seed, login_as):
    login_as("auditor")
    # Not before publication (tests/admin/test_auditor_before_publication.py); here the names
    # of a published list, checked as the review left them.
    assert client.get(f"/admin/val/{seed.slug}/kandidater").status_code == 403
    with db.transaction() as s:
        election = s.scalar(select(Election).where(Election.slug == seed.slug))
        election.candidates_published_at = election.nomination_closes
    page = client.get(f"/admin/val/{seed.slug}/kandidater").get_data(as_text=True)
    assert "Bo Berg" in page
    assert seed.nominee_name not in page  # awaiting review: not a candidate
