"""The nominee's page makes mistakes hard (issue 14, item 7).

A decline is asked twice and looks unlike "yes"; removing the photo is a checkbox, not a
second button beside "Spara"; a link typed as ``www.…`` is completed with ``https://``.
(The photo kept across a refused form: test_nominee_errors.py.)
"""

from __future__ import annotations

import io
import json
import re

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.nominations.conftest import image_bytes, nominate_and_confirm, open_as_nominee, rows
from voting.db import db
from voting.log.models import AuditEntry
from voting.nominations.models import Nomination, NominationStatus
from voting.nominations.rules import complete_link

ASK_AGAIN = "Vill du verkligen tacka nej?"


@pytest.fixture
def nominee(client, register):
    nominate_and_confirm(client)
    open_as_nominee(client)
    return client


@pytest.fixture
def accepted(nominee):
    assert nominee.post("/kandidat", data={"accept": "1"}).status_code == 302
    return nominee


def _status():
    db.session.expire_all()
    [nomination] = rows(Nomination)
    return nomination.status


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


def test_yes_and_no_do_not_look_alike(nominee):
    page = nominee.get("/kandidat").text
    accept = re.search(r'<input[^>]*name="accept"[^>]*>', page).group(0)
    decline = re.search(r'<input[^>]*name="decline"[^>]*>', page).group(0)
    assert 'class="button primary"' in accept
    assert 'class="button secondary"' in decline


def test_declining_asks_again_and_changes_nothing_until_confirmed(nominee):
    first = nominee.post("/kandidat", data={"decline": "1"})
    assert first.status_code == 200
    assert ASK_AGAIN in first.text
    assert "du kan inte ändra dig efteråt" in first.text
    # The confirming button is the red one, and there is a way back.
    button = re.search(r'<button[^>]*name="decline"[^>]*>([^<]*)</button>', first.text)
    assert button is not None, first.text
    assert 'class="danger"' in button.group(0)
    assert button.group(1) == "Ja, jag tackar nej"
    assert '<input type="hidden" name="decline_confirmed" value="1">' in first.text
    assert 'href="/kandidat">Avbryt, jag har inte bestämt mig</a>' in first.text
    assert _status() == NominationStatus.AWAITING_NOMINEE
    assert rows(AuditEntry, AuditEntry.type == "nomination.declined") == []

    # Going back shows the two answers again; yes is still possible.
    assert "Ja, jag ställer upp" in nominee.get("/kandidat").text

    confirmed = nominee.post("/kandidat", data={"decline": "1", "decline_confirmed": "1"})
    assert confirmed.status_code == 302
    assert _status() == NominationStatus.DECLINED
    assert len(rows(AuditEntry, AuditEntry.type == "nomination.declined")) == 1


def test_a_wrong_confirmation_value_does_not_decline(nominee):
    response = nominee.post("/kandidat", data={"decline": "1", "decline_confirmed": "yes"})
    assert response.status_code == 200
    assert ASK_AGAIN in response.text
    assert _status() == NominationStatus.AWAITING_NOMINEE


def test_accepting_needs_no_second_step(nominee):
    assert nominee.post("/kandidat", data={"accept": "1"}).status_code == 302
    assert _status() == NominationStatus.AWAITING_REVIEW


def test_removing_the_photo_is_a_checkbox_and_saving_the_only_button(accepted):
    assert (
        _save(accepted, photo=(io.BytesIO(image_bytes("PNG", size=(60, 60))), "a.png")).status_code
        == 302
    )
    page = accepted.get("/kandidat").text
    form = page.split('enctype="multipart/form-data"', 1)[1].split("</form>", 1)[0]
    submits = re.findall(r'<(?:input|button)[^>]*type="submit"[^>]*>', form)
    assert len(submits) == 1, submits  # Enter in any field saves; it never removes the photo
    assert 'value="Spara presentationen"' in submits[0]
    assert re.search(r'<input[^>]*id="remove_photo"[^>]*type="checkbox"', form), form
    assert '<label for="remove_photo">Ta bort det nuvarande fotot</label>' in form
    # Saving with the box unticked keeps the photo; ticked, removes it.
    assert _save(accepted, text="Hej").status_code == 302
    assert rows(Nomination)[0].photo is not None
    assert _save(accepted, text="Hej", remove_photo="y").status_code == 302
    db.session.expire_all()
    assert rows(Nomination)[0].photo is None
    assert 'id="remove_photo"' not in accepted.get("/kandidat").text  # nothing to remove


@pytest.mark.parametrize(
    ("typed", "saved"),
    [
        ("www.example.se", "https://www.example.se"),
        ("www.example.se/om-mig?x=1#a", "https://www.example.se/om-mig?x=1#a"),
        ("WWW.Example.se", "https://WWW.Example.se"),
        ("example.org/karl", "https://example.org/karl"),
        ("  www.example.se/karl  ", "https://www.example.se/karl"),
        ("http://www.example.se", "http://www.example.se"),  # a scheme typed is kept
    ],
)
def test_a_link_typed_without_https_is_completed(accepted, typed, saved):
    assert _save(accepted, link_1=typed).status_code == 302
    [nomination] = rows(Nomination)
    assert json.loads(nomination.links) == [saved]
    assert f'value="{saved}"' in accepted.get("/kandidat").text


@pytest.mark.parametrize(
    "typed",
    ["javascript:alert(1)", "mailto:karl@example.org", "karl@example.org", "localhost/x"],
)
def test_only_a_host_name_is_completed(typed):
    assert complete_link(typed) == typed


def test_an_invalid_link_is_still_refused_after_completion(accepted):
    response = _save(accepted, link_1="www.exa mple.se")
    assert response.status_code == 400
    assert 'id="link_1-error"' in response.text
    assert rows(Nomination)[0].links is None
