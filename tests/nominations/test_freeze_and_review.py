"""The committee sees what it approves, and it stays as seen (issue 14, item 15; F8).

The review under /admin shows each accepted nominee's presentation, photo and links; the
committee may open an unpublished photo. At the nomination close presentations freeze: the
nominee can no longer edit, so an approved nomination can no longer go back to review and
hold up the publication of every list.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.factories import make_staff_quick
from tests.nominations.conftest import (
    SLUG,
    image_bytes,
    nominate_and_confirm,
    open_as_nominee,
    rows,
)
from voting.admin.services import start_session
from voting.db import db
from voting.elections.models import Election
from voting.lifecycle.candidates import publication_blockers
from voting.log.models import AuditEntry
from voting.nominations.errors import NotAllowed
from voting.nominations.models import Nomination, NominationStatus
from voting.nominations.presentations import update_presentation
from voting.nominations.review import approve

TEXT = "Jag heter Karl.\nJag vill ha <b>bättre</b> kollektivtrafik."
LINK = "https://example.org/karl"


def _save(client, **fields):
    values = MultiDict()
    data = {"text": "", "link_1": "", "link_2": "", "link_3": "", "save": "1", **fields}
    for key, value in data.items():
        if isinstance(value, tuple):
            stream, filename = value
            values.add(key, FileStorage(stream, filename=filename, content_type="image/png"))
        else:
            values.add(key, value)
    boundary, body = encode_multipart(values)
    return client.post(
        "/kandidat", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def _nomination() -> Nomination:
    db.session.expire_all()
    [nomination] = rows(Nomination)
    return nomination


def _election() -> Election:
    return _nomination().election


@pytest.fixture
def presented(client, register):
    """Karl accepted and wrote a presentation with a photo and a link."""
    nominate_and_confirm(client)
    open_as_nominee(client)
    assert client.post("/kandidat", data={"accept": "1"}).status_code == 302
    response = _save(
        client,
        text=TEXT,
        link_1=LINK,
        photo=(io.BytesIO(image_bytes("PNG", size=(80, 80))), "karl.png"),
    )
    assert response.status_code == 302
    return client


def _approve(now):
    with db.transaction() as tx:
        approve(tx, tx.get(Nomination, _nomination().id), None, now)
    db.session.expire_all()


def _staff(app, clock, role="committee"):
    with db.transaction() as s:
        uid = make_staff_quick(s, role, clock()).id
    db.session.close()
    client = app.test_client()
    with client.session_transaction() as cookie:
        start_session(cookie, SimpleNamespace(id=uid, session_epoch=0), clock())
    return client


def _move_clock(clock, client, moment):
    """Set the clock; the nominee's browser stays signed in (as if they opened a fresh link)."""
    clock.set(moment)
    with client.session_transaction() as cookie:
        cookie["nominee"] = {
            "id": _nomination().id,
            "until": int((moment + timedelta(hours=1)).timestamp()),
        }


def _after_close(clock, client):
    _move_clock(clock, client, _election().nomination_closes + timedelta(seconds=1))


def test_after_the_close_the_nominee_can_no_longer_edit(presented, clock):
    _after_close(clock, presented)
    page = presented.get("/kandidat")
    assert page.status_code == 200
    assert "Nomineringen har stängt, och presentationen kan inte längre ändras." in page.text
    assert "Spara presentationen" not in page.text
    assert "bättre" in page.text  # shown, read only
    before = len(rows(AuditEntry, AuditEntry.type == "presentation.updated"))
    response = _save(presented, text="Sent ändrad.")
    assert response.status_code == 302
    assert _nomination().presentation == TEXT
    assert len(rows(AuditEntry, AuditEntry.type == "presentation.updated")) == before


def test_an_approved_nomination_cannot_go_back_to_review_after_the_close(presented, clock):
    """F8: before, one late edit put the nomination back in review and blocked publication."""
    _approve(clock())
    _after_close(clock, presented)
    _save(presented, text="Något helt annat.", link_1="")
    nomination = _nomination()
    assert nomination.status == NominationStatus.APPROVED
    assert nomination.presentation == TEXT
    assert publication_blockers(db.session, nomination.election, clock()) == []


def test_the_service_refuses_an_edit_after_the_close_whatever_the_page(presented, clock):
    _approve(clock())
    _after_close(clock, presented)
    with pytest.raises(NotAllowed), db.transaction() as tx:
        update_presentation(
            tx,
            tx.get(Nomination, _nomination().id),
            text="Direkt i tjänsten.",
            links=[],
            photo=None,
            remove_photo=True,
            now=clock(),
        )
    nomination = _nomination()
    assert nomination.status == NominationStatus.APPROVED
    assert nomination.photo is not None


def test_up_to_the_close_an_edit_still_sends_an_approval_back(presented, clock):
    _approve(clock())
    _move_clock(clock, presented, _election().nomination_closes)
    assert _save(presented, text="Sista minuten.").status_code == 302
    assert _nomination().status == NominationStatus.AWAITING_REVIEW


def test_the_nominee_page_says_until_when_it_can_be_edited(presented):
    page = presented.get("/kandidat").text
    assert "Du kan ändra den till och med 2026-11-30 23:59" in page


def test_the_review_shows_presentation_photo_and_links(app, presented, clock):
    committee = _staff(app, clock)
    page = committee.get(f"/admin/val/{SLUG}/nomineringar")
    assert page.status_code == 200
    nomination = _nomination()
    card = page.text.split(f'id="n{nomination.id}"', 1)[1]  # the only nomination
    assert (
        '<p class="presentation" lang="sv">Jag heter Karl.\nJag vill ha &lt;b&gt;bättre&lt;/b&gt;'
        in card
    )
    assert f'<a href="{LINK}" rel="nofollow noopener noreferrer ugc">{LINK}</a>' in card
    photo_url = f"/kandidat/foto/{nomination.id}.jpg"
    assert f'src="{photo_url}"' in card
    assert "Foto på Karl Johan Berg" in card
    # The committee may open the unpublished photo; nobody else but the nominee.
    shown = committee.get(photo_url)
    assert shown.status_code == 200
    assert shown.data == nomination.photo
    assert shown.headers["Cache-Control"] == "private, no-store"
    assert app.test_client().get(photo_url).status_code == 404
    assert _staff(app, clock, "auditor").get(photo_url).status_code == 404
    # Before the close the committee is told that approved presentations may still change.
    assert "Kandidaterna kan ändra sina presentationer till och med" in page.text


def test_the_review_says_when_presentations_are_locked(app, presented, clock):
    _after_close(clock, presented)
    page = _staff(app, clock).get(f"/admin/val/{SLUG}/nomineringar").text
    assert "Presentationerna är låsta" in page


def test_a_nominee_without_a_presentation_is_shown_as_such(app, client, register, clock):
    nominate_and_confirm(client)
    open_as_nominee(client)
    client.post("/kandidat", data={"accept": "1"})
    page = _staff(app, clock).get(f"/admin/val/{SLUG}/nomineringar").text
    assert "Ingen presentation." in page
    assert "Inget foto." in page


def test_the_committees_candidate_lists_show_the_presentations(app, presented, clock):
    _approve(clock())
    page = _staff(app, clock).get(f"/admin/val/{SLUG}/kandidater").text
    assert re.search(r"<h3>Karl Johan Berg</h3>", page)
    assert "&lt;b&gt;bättre&lt;/b&gt;" in page
    assert f'href="{LINK}"' in page
    assert f'src="/kandidat/foto/{_nomination().id}.jpg"' in page
