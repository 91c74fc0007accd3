"""The nominee's link: single use with a session, a fresh link on reuse, accept or decline."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from tests.nominations.conftest import (
    DURING,
    follow_link,
    link_in,
    mails,
    nominate_and_confirm,
    open_as_nominee,
    rows,
)
from voting.db import db
from voting.elections.models import Election
from voting.log.models import AuditEntry
from voting.nominations.models import Nomination, NominationStatus

# A decline is asked twice; this is the second, confirming press (test_nominee_page.py).
DECLINE = {"decline": "1", "decline_confirmed": "1"}


def test_link_signs_in_and_redirects_without_token(client, register):
    nominate_and_confirm(client)
    response = open_as_nominee(client)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/kandidat")
    page = client.get("/kandidat")
    assert page.status_code == 200
    assert "Karl Johan Berg" in page.text
    assert "Södermalm" in page.text
    assert "Ja, jag ställer upp" in page.text
    assert "Nej, jag tackar nej" in page.text


def test_kandidat_without_session_is_refused(client, register):
    response = client.get("/kandidat")
    assert response.status_code == 403
    assert "Öppna länken i ditt mejl" in response.text


def test_reopening_in_the_same_browser_just_redirects(client, register):
    nominate_and_confirm(client)
    [(_s, body)] = mails("karl@example.org")
    link = link_in(body, "kandidat")
    assert follow_link(client, link).status_code == 303
    again = follow_link(client, link)
    assert again.status_code == 303
    assert again.headers["Location"].endswith("/kandidat")
    assert len(mails("karl@example.org")) == 1  # no new link needed


def test_reopening_elsewhere_mails_a_fresh_link(app, client, register, clock):
    nominate_and_confirm(client)
    [(_s, body)] = mails("karl@example.org")
    link = link_in(body, "kandidat")
    assert follow_link(client, link).status_code == 303
    other = app.test_client()
    response = follow_link(other, link)
    assert response.status_code == 410
    assert "Länken har redan använts. Vi har skickat en ny länk till din e-post." in response.text
    assert other.get("/kandidat").status_code == 403
    sent = mails("karl@example.org")
    assert len(sent) == 2
    assert "Ny länk" in sent[1][0]
    fresh = link_in(sent[1][1], "kandidat")
    assert fresh != link
    # Opening the old link again soon after does not flood the nominee's inbox.
    assert "nyligen" in follow_link(other, link).text
    assert len(mails("karl@example.org")) == 2
    clock.set(DURING + timedelta(minutes=11))
    assert follow_link(other, fresh).status_code == 303
    assert other.get("/kandidat").status_code == 200


def test_session_of_one_nomination_does_not_open_another(app, client, register):
    """A browser signed in for nomination A that opens a used link of B is not let into B."""
    nominate_and_confirm(client)
    nominate_and_confirm(
        client, nominee_first_name="Eva", nominee_last_name="Lind", nominee_identifier="1003"
    )
    karl = link_in(mails("karl@example.org")[0][1], "kandidat")
    eva = link_in(mails("eva@example.org")[-1][1], "kandidat")
    assert follow_link(app.test_client(), karl).status_code == 303  # Karl's link used elsewhere
    assert follow_link(client, eva).status_code == 303  # this browser: Eva
    response = follow_link(client, karl)
    assert response.status_code == 410
    page = client.get("/kandidat")
    assert "Eva Lind" in page.text
    assert "Karl" not in page.text


def test_unknown_nominee_link(client, register):
    assert follow_link(client, "/kandidat/" + "x" * 32).status_code == 404


def test_accept(client, register):
    nominate_and_confirm(client)
    open_as_nominee(client)
    response = client.post("/kandidat", data={"accept": "1"})
    assert response.status_code == 302
    page = client.get("/kandidat")
    assert "Du har tackat ja" in page.text
    assert "Din presentation" in page.text
    [nomination] = rows(Nomination)
    assert nomination.status == NominationStatus.AWAITING_REVIEW
    assert nomination.responded_at is not None
    [entry] = rows(AuditEntry, AuditEntry.type == "nomination.accepted")
    assert json.loads(entry.body)
    # The member ID, not as digits that turn up by chance inside a hex pseudonym or hash.
    assert not re.search(r"(?<![0-9a-f])1002(?![0-9a-f])", entry.body)


def test_decline_is_final(client, register):
    nominate_and_confirm(client)
    open_as_nominee(client)
    assert client.post("/kandidat", data=DECLINE).status_code == 302
    page = client.get("/kandidat")
    assert "Du har tackat nej" in page.text
    assert "Ja, jag ställer upp" not in page.text
    again = client.post("/kandidat", data={"accept": "1"})
    assert again.status_code == 302
    [nomination] = rows(Nomination)
    assert nomination.status == NominationStatus.DECLINED
    assert len(rows(AuditEntry, AuditEntry.type == "nomination.declined")) == 1
    assert rows(AuditEntry, AuditEntry.type == "nomination.accepted") == []


def test_a_later_nominator_does_not_reopen_a_decline(client, register):
    nominate_and_confirm(client)
    open_as_nominee(client)
    client.post("/kandidat", data=DECLINE)
    nominate_and_confirm(client, nominator_email="eva@example.org")
    [nomination] = rows(Nomination)
    assert nomination.status == NominationStatus.DECLINED
    assert nomination.nominator_count == 2
    assert len(mails("karl@example.org")) == 1


def test_no_answer_after_publication(client, register):
    nominate_and_confirm(client)
    open_as_nominee(client)
    with db.transaction() as s:
        s.get(Election, register.election_id).candidates_published_at = DURING
    db.session.close()
    page = client.get("/kandidat")
    assert "Ja, jag ställer upp" not in page.text
    client.post("/kandidat", data={"accept": "1"})
    [nomination] = rows(Nomination)
    assert nomination.status == NominationStatus.AWAITING_NOMINEE


def test_nominee_session_expires(client, register, clock):
    nominate_and_confirm(client)
    open_as_nominee(client)
    clock.set(DURING + timedelta(hours=5))
    assert client.get("/kandidat").status_code == 403
