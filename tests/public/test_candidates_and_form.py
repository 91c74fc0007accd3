"""The public candidate list (presentations keep their breaks, phone-sized jump links) and the
nomination form's wording for a förening (only its contact person nominates for it)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import flask_babel
import pytest
from sqlalchemy import select

from tests.ballot.conftest import setup_voting
from voting.db import db
from voting.elections.services import get_election
from voting.nominations.models import Nomination

STYLE = Path(__file__).resolve().parents[2] / "voting" / "static" / "style.css"
NOMINATION_OPEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PRESENTATION = "Första stycket.\r\n\r\nAndra stycket <b>fet</b>\r\nrad två & mer."


def _rule(selector: str) -> str:
    """The declarations of the first CSS rule whose selector list contains ``selector``."""
    css = re.sub(r"/\*.*?\*/", "", STYLE.read_text(encoding="utf-8"), flags=re.S)
    for match in re.finditer(r"([^{}]+)\{([^}]*)\}", css):
        selectors = [s.strip() for s in match.group(1).split(",")]
        if selector in selectors:
            return match.group(2)
    raise AssertionError(f"no CSS rule for {selector}")


@pytest.fixture
def election(app, clock, rsa_keys):
    setup = setup_voting(app, clock, rsa_keys, "http://localhost")
    with db.transaction() as s:
        first = s.scalars(select(Nomination).order_by(Nomination.id)).first()
        first.presentation = PRESENTATION
    return setup


@pytest.fixture
def nominating(clock, election):
    """The same election while its nomination is open (lists not yet published)."""
    with db.transaction() as s:
        get_election(s, election.slug).candidates_published_at = None
    clock.set(NOMINATION_OPEN)
    return election


def _get(client, url: str) -> str:
    flask_babel.refresh()  # the test's app context (and g) outlives the request
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_presentation_keeps_its_line_breaks_escaped(client, election):
    page = _get(client, f"/val/{election.slug}/kandidater")
    match = re.search(r'<p class="presentation"( lang="sv")?>(.*?)</p>', page, re.S)
    assert match, "the presentation is one element whose line breaks CSS keeps"
    # Written in Swedish: a screen reader reads it so, on the English page too (issue 14, 9).
    assert match.group(1) == ' lang="sv"'
    text = match.group(2).replace("\r\n", "\n")
    assert text == "Första stycket.\n\nAndra stycket &lt;b&gt;fet&lt;/b&gt;\nrad två &amp; mer."
    assert "<b>fet</b>" not in page
    assert "white-space: pre-line" in _rule(".presentation")


def test_jump_links_are_tap_sized_and_cards_are_not_indented(client, election):
    page = _get(client, f"/val/{election.slug}/kandidater")
    nav = re.search(r'<ul class="([^"]*)">\s*<li><a href="#krets-', page)
    assert nav
    assert "jump-links" in nav.group(1).split()
    assert '<ol class="candidates">' in page
    links = _rule(".jump-links a")
    assert "min-height: 2.75rem" in links  # 44 px at the default font size
    assert "display: inline-flex" in links
    candidates = _rule("ol.candidates")
    assert "padding: 0" in candidates
    assert "list-style: none" in candidates


def test_forening_option_says_it_is_for_the_contact_person(client, nominating):
    page = _get(client, f"/val/{nominating.slug}/nominera")
    assert "som kontaktperson för en förening" in page
    assert "tillsammans med en förening" not in page
    english = _get(client, f"/val/{nominating.slug}/nominera?lang=en")
    assert "as the contact person of an association" in english
    assert "together with an association" not in english


def test_radio_buttons_sit_on_the_line_of_their_label(client, nominating):
    page = _get(client, f"/val/{nominating.slug}/nominera")
    assert re.search(r'<div class="choice"><input[^>]*type="radio"[^>]*> <label', page)
    choice = _rule(".choice")
    assert "display: flex" in choice
    assert "align-items: center" in choice
    assert "display: inline" in _rule(".choice label")
