"""Publishing the candidate lists needs the same "Jag har kontrollerat" box as freezing the roll."""

from __future__ import annotations

import re

import flask_babel

from tests.admin.conftest import close_nominations
from voting.db import db
from voting.elections.models import Election
from voting.log.services import entries


def _ready(client, seed, login_as, clock) -> str:
    """Approve the one nomination awaiting review and close the nominations: nothing blocks."""
    login_as("committee")
    client.post(f"/admin/nomineringar/{seed.awaiting}/godkann")
    close_nominations(clock)
    login_as("committee")  # the first login has expired two days on
    return f"/admin/val/{seed.slug}/publicera"


def _box(page: str) -> str:
    """The confirm box's <input> tag (WTForms sorts the attributes)."""
    (tag,) = re.findall(r'<input[^>]*name="confirm"[^>]*>', page)
    return tag


def _published(slug: str) -> bool:
    db.session.rollback()
    election = db.session.query(Election).filter_by(slug=slug).one()
    return election.candidates_published_at is not None


def test_the_page_shows_the_box_linked_to_the_button(client, seed, login_as, clock):
    url = _ready(client, seed, login_as, clock)
    page = client.get(url).get_data(as_text=True)
    form = page.split(f'action="{url}"', 1)[1].split("</form>", 1)[0]
    assert 'type="checkbox"' in _box(form)
    assert '<label for="confirm">' in form
    assert "Jag har kontrollerat och vill fortsätta" in form
    assert form.index('name="confirm"') < form.index("Publicera kandidatlistorna")


def test_without_the_box_nothing_is_published(client, seed, login_as, clock):
    url = _ready(client, seed, login_as, clock)
    for data in ({}, {"confirm": ""}):
        response = client.post(url, data=data)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Kandidatlistorna kunde inte publiceras." in page
        # The field error, tied to the box for screen readers.
        assert '<p class="error-text" id="confirm-error">Kryssa i rutan för att bekräfta.</p>' in (
            page
        )
        assert 'aria-describedby="confirm-error"' in _box(page)
        assert 'aria-invalid="true"' in _box(page)
        assert not _published(seed.slug)
        assert entries(db.session, seed.slug, "candidates.published") == []


def test_with_the_box_the_lists_are_published(client, seed, login_as, clock):
    url = _ready(client, seed, login_as, clock)
    # No krets of the seed has more candidates than seats: the page names them, with a box.
    page = client.get(url).get_data(as_text=True)
    assert "Kretsar utan omröstning" in page
    assert "Bromma (BROMMA): 1 godkänd kandidat för 1 plats, ingen omröstning" in page
    assert 'name="confirm_no_vote"' in page
    refused = client.post(url, data={"confirm": "y"})
    assert refused.status_code == 400
    assert "bekräfta att kretsarna inte får någon omröstning" in refused.get_data(as_text=True)
    assert not _published(seed.slug)
    response = client.post(url, data={"confirm": "y", "confirm_no_vote": "y"})
    assert response.status_code == 302
    assert response.location == f"/admin/val/{seed.slug}/kandidater"
    assert _published(seed.slug)
    assert len(entries(db.session, seed.slug, "candidates.published")) == 1


def test_the_box_does_not_get_past_a_blocker(client, seed, login_as):
    login_as("committee")
    url = f"/admin/val/{seed.slug}/publicera"  # nominations still open
    assert client.post(url, data={"confirm": "y"}).status_code == 409
    assert not _published(seed.slug)


def test_in_english(client, seed, login_as, clock):
    url = _ready(client, seed, login_as, clock)
    flask_babel.refresh()  # the test's app context (and g) outlives the request
    page = client.post(url + "?lang=en", data={}).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Tick the box to confirm." in page
    assert "I have checked and want to continue" in page
    assert "Kryssa" not in page
