"""Finding one's own krets in the results, plain words for the lottery, the start page after
the results, and times labelled "svensk tid" (issue 14, items 8 and 9)."""

from __future__ import annotations

import re

import flask_babel
import pytest

from tests.ballot.conftest import AFTER, DURING, setup_voting
from tests.public.test_results_page import cast_and_count, publish
from voting.db import db
from voting.public.legal_views import tz_label
from voting.public.results_views import swedish_sort_key


@pytest.fixture
def election(app, clock, rsa_keys):
    return setup_voting(app, clock, rsa_keys, "http://localhost")


@pytest.fixture
def published(client, clock, election):
    cast_and_count(client, clock, election)
    publish(election.slug)
    return election


def _get(client, path: str) -> str:
    flask_babel.refresh()
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_jump_links_lead_to_each_krets_in_alphabetical_order(client, published):
    html = _get(client, f"/val/{published.slug}/resultat")
    nav = re.search(r'<nav aria-labelledby="jump-heading"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, "no jump links"
    links = re.findall(r'<a href="#(krets-[^"]+)">([^<]+)</a>', nav.group(1))
    sections = re.findall(r'<h2 id="(krets-[^"]+)">([^<]+)</h2>', html)
    assert len(links) == len(published.contests) == len(sections)
    assert links == sections  # every link has its section, in the same order
    names = [name for _, name in sections]
    assert names == sorted(names, key=swedish_sort_key)
    # The end of each krets leads back to the list.
    assert html.count('<a href="#kretsar">') == len(sections)
    assert 'id="kretsar"' in html


def test_swedish_alphabetical_order():
    names = ["Örby", "Ängby", "Åkeshov", "Zinkensdamm", "bromma", "Alvik"]
    assert sorted(names, key=swedish_sort_key) == [
        "Alvik",
        "bromma",
        "Zinkensdamm",
        "Åkeshov",
        "Ängby",
        "Örby",
    ]


def test_the_swedish_page_never_says_seed(client, published):
    html = _get(client, f"/val/{published.slug}/resultat")
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"\bseed\b", text, re.I)
    assert "Lottningsfrö:" in text
    assert "röd kula 17" in text  # the committee's phrase itself
    assert "(svensk tid)" in text
    assert "Europe/Stockholm" not in text


def test_the_start_page_points_to_the_results_once_out(client, clock, election):
    clock.set(DURING)
    page = _get(client, "/")
    assert "Röstningen pågår till och med" in page
    assert "(svensk tid)" in page
    assert "Europe/Stockholm" not in page
    cast_and_count(client, clock, election)
    page = _get(client, "/")
    assert "Röstningen har stängt." in page
    assert "Nomineringen är stängd" not in page
    publish(election.slug)
    page = _get(client, "/")
    assert "Nomineringen är stängd" not in page
    assert "resultatet är publicerat" in page
    assert f'<a class="button" href="/val/{election.slug}/resultat">Se resultatet</a>' in page


def test_the_start_page_says_how_to_vote_in_each_sign_in_mode(client, clock, election):
    from voting.elections.services import get_election

    clock.set(DURING)
    page = _get(client, "/")
    assert "Du röstar med länken i mejlet från valberedningen." in page
    assert f'href="/val/{election.slug}/rosta"' not in page
    with db.transaction() as s:
        get_election(s, election.slug).sign_in = "eid"
    page = _get(client, "/")
    assert "Du röstar genom att logga in med e-legitimation." in page
    assert f'<a class="button" href="/val/{election.slug}/rosta">Rösta</a>' in page


def test_tz_label_names_only_a_foreign_zone(app):
    with app.test_request_context("/"):
        assert tz_label("Europe/Stockholm") == "svensk tid"
        assert tz_label("Europe/Helsinki") == "Europe/Helsinki"


def test_committee_pages_say_svensk_tid(client, login_as, election):
    login_as("committee")
    for path in (f"/admin/val/{election.slug}/", f"/admin/val/{election.slug}/rostning"):
        page = _get(client, path)
        assert "Tider i svensk tid." in page, path
        assert "Europe/Stockholm" not in page, path


def test_english_results_after_the_merge(client, published):
    html = _get(client, f"/val/{published.slug}/resultat?lang=en")
    assert "(Swedish time)" in html
    assert "Lottery seed:" in html
    assert AFTER  # the results are out after the close
