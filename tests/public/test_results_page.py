"""The public results page as a member reads it: plurals, Swedish numbers, the lottery, the
tables that must scroll on a phone, and the start page's link to the results."""

from __future__ import annotations

import re
from pathlib import Path

import flask_babel
import pytest

from ballots.client import VoterClient
from tests.ballot.conftest import AFTER, flask_transport, setup_voting
from voting.db import db
from voting.elections.services import get_election
from voting.lifecycle import results as results_service
from voting.lifecycle.seal import seal_board
from voting.lifecycle.tally import tally

STYLE = Path(__file__).resolve().parents[2] / "voting" / "static" / "style.css"


def cast_and_count(client, clock, election) -> None:
    """Södermalm 3 of 4 vote (75 %); Bromma's two voters split 1–1, so a lottery decides."""
    soder, bromma = election.candidates["SODERMALM"], election.candidates["BROMMA"]
    votes = {
        "S1": ("SODERMALM", [soder[0], soder[1]]),
        "S2": ("SODERMALM", [soder[0], soder[2]]),
        "S3": ("SODERMALM", [soder[0], soder[1]]),
        "B1": ("BROMMA", [bromma[0]]),
        "B2": ("BROMMA", [bromma[1]]),
    }
    for member, (krets, choices) in votes.items():
        voter = VoterClient(
            "http://localhost", election.tokens[member], transport=flask_transport(client)
        )
        voter.vote(election.slug, election.contests[krets], choices)
    clock.set(AFTER)
    with db.transaction() as s:
        seal_board(s, get_election(s, election.slug), AFTER, by="cli")
    with db.transaction() as s:
        tally(s, get_election(s, election.slug), "röd kula 17", AFTER, by="cli")


def publish(slug: str) -> None:
    with db.transaction() as s:
        results_service.publish_results(s, get_election(s, slug), AFTER, by="cli")


@pytest.fixture
def election(app, clock, rsa_keys):
    return setup_voting(app, clock, rsa_keys, "http://localhost")


@pytest.fixture
def published(client, clock, election):
    cast_and_count(client, clock, election)
    publish(election.slug)
    return election


def _page(client, slug: str, lang: str | None = None) -> str:
    # The app fixture's app context (and g, where Flask-Babel caches the locale) outlives a
    # request; a server starts each request afresh.
    flask_babel.refresh()
    response = client.get(f"/val/{slug}/resultat" + (f"?lang={lang}" if lang else ""))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_one_vote_is_singular_in_both_languages(client, published):
    sv = _page(client, published.slug)
    assert "(1 röst)" in sv
    assert "(3 röster)" in sv
    assert "1 röster" not in sv
    assert "Lika med 1 röst<" in sv
    en = _page(client, published.slug, "en")
    assert "(1 vote)" in en
    assert "(3 votes)" in en
    assert "1 votes" not in en


def test_turnout_has_a_decimal_comma_in_swedish(client, published):
    sv = _page(client, published.slug)
    assert "Valdeltagande: 75,0 %." in sv
    assert "Valdeltagande: 100,0 %." in sv
    assert "75.0" not in sv
    en = _page(client, published.slug, "en")
    assert "75.0 %" in en
    assert "75,0" not in en


def test_the_lottery_is_explained_without_a_repository_path(client, published):
    sv = _page(client, published.slug)
    assert "docs/" not in sv
    assert ".md" not in sv
    assert "Lottningen går att göra om" in sv
    # The inputs of the draw are in the record: the explanation links it.
    explanation = sv[sv.index("Lottningen går att göra om") :]
    explanation = explanation[: explanation.index("</p>")]
    assert f'href="/api/v1/elections/{published.slug}/record"' in explanation
    assert "github" not in sv.lower()


def test_every_table_scrolls_and_lottery_tickets_can_break(client, published):
    sv = _page(client, published.slug)
    tables = sv.count("<table")
    assert tables >= 3  # all candidates per krets, plus Bromma's tie
    wraps = re.findall(r'<div class="[^"]*\btable-scroll\b[^"]*"([^>]*)>\s*<table', sv)
    assert len(wraps) == tables
    # Reachable by keyboard, and named, when it scrolls (axe: scrollable-region-focusable).
    for attributes in wraps:
        assert 'tabindex="0"' in attributes
        assert 'role="region"' in attributes
        assert "aria-labelledby=" in attributes
    tickets = re.findall(r'<code class="hash">([0-9a-f]{64})</code>', sv)
    assert tickets, "the tie's lottery tickets are shown"

    css = STYLE.read_text(encoding="utf-8")
    scroll = re.search(r"\.table-scroll[^{]*\{([^}]*)\}", css)
    assert scroll
    assert "overflow-x: auto" in scroll.group(1)
    hashes = re.search(r"code\.hash[^{]*\{([^}]*)\}", css)
    assert hashes
    assert "overflow-wrap: anywhere" in hashes.group(1)


def test_the_board_table_scrolls_too(client, published):
    page = client.get(f"/val/{published.slug}/anslagstavla").get_data(as_text=True)
    tables = page.count("<table")
    assert tables >= 1
    assert len(re.findall(r'<div class="[^"]*\btable-scroll\b[^"]*">\s*<table', page)) == tables


def test_start_page_links_the_results_once_published(client, clock, election):
    url = f'href="/val/{election.slug}/resultat"'
    assert url not in client.get("/").get_data(as_text=True)
    cast_and_count(client, clock, election)
    # Counted but not published: still no link (the page would answer 404).
    assert url not in client.get("/").get_data(as_text=True)
    publish(election.slug)
    page = client.get("/").get_data(as_text=True)
    assert url in page
    assert client.get(f"/val/{election.slug}/resultat").status_code == 200
