"""The public ballot board page: hashes while open, ballots after; the receipt check is the
page's script's (tests/browser/test_board_lookup.py), never the server's."""

from __future__ import annotations

import re

import pytest

from ballots.client import VoterClient
from tests.ballot.conftest import AFTER, BEFORE, flask_transport, setup_voting


@pytest.fixture
def election(app, clock, rsa_keys):
    return setup_voting(app, clock, rsa_keys, "http://localhost")


def _vote(client, election, member_id: str, krets: str, picks: slice) -> str:
    voter = VoterClient(
        "http://localhost", election.tokens[member_id], transport=flask_transport(client)
    )
    receipt = voter.vote(election.slug, election.contests[krets], election.candidates[krets][picks])
    return receipt["ballot_hash"]


def _board(client, election, **params):
    return client.get(f"/val/{election.slug}/anslagstavla", query_string=params)


def test_open_board_lists_hashes_and_finds_a_receipt(client, election):
    digest = _vote(client, election, "S1", "SODERMALM", slice(0, 2))
    response = _board(client, election)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<code class="ballot-hash" data-ballot-hash>{digest}</code>' in page
    assert "1 röstsedel hittills." in page
    # While voting is open the choices stay hidden: no candidate name on the page.
    for name in ("Anna Berg", "Bo Åberg", "Cecilia Dahl"):
        assert name not in page

    # The page's script finds the receipt in the krets's list: each ballot's code is marked.
    assert f'<code class="ballot-hash" data-ballot-hash>{digest}</code>' in page
    assert 'data-krets="Södermalm"' in page
    # The texts the script shows come from the page, in the reader's language.
    assert "Ja, din röstsedel finns på anslagstavlan i krets {krets}." in page
    assert "Nej, den kvittokoden finns inte på anslagstavlan." in page
    assert 'role="status"' in page


def test_the_server_never_looks_a_receipt_up(client, election):
    """F3: no request carries a ballot's hash; an old ``?hash=`` bookmark is simply ignored."""
    digest = _vote(client, election, "S1", "SODERMALM", slice(0, 2))
    plain = _board(client, election).get_data(as_text=True)
    for query in (digest, "not-a-hash"):
        response = _board(client, election, hash=query)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert page == plain
    assert "not-a-hash" not in plain
    # The search field has no name: a form sent without the script sends no hash either.
    field = re.search(r'<input type="search" id="board-hash"[^>]*>', plain, re.S)
    assert field is not None
    assert "name=" not in field.group(0)
    assert 'method="post"' not in plain.lower()


def test_after_the_close_the_board_shows_ballots_with_names(client, election, clock):
    soder = _vote(client, election, "S1", "SODERMALM", slice(0, 2))
    bromma = _vote(client, election, "B1", "BROMMA", slice(1, 2))
    clock.set(AFTER)
    response = _board(client, election)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Röstningen har stängt." in page
    sections = dict(re.findall(r'<h2 id="krets-\d+">([^<]+)</h2>(.*?)</section>', page, re.S))
    assert soder in sections["Södermalm"]
    assert "<li>Anna Berg</li><li>Bo Åberg</li>" in sections["Södermalm"]
    assert "Cecilia Dahl" not in page  # not chosen by anyone
    assert bromma in sections["Bromma"]
    assert "<li>Filip Gran</li>" in sections["Bromma"]
    assert "Eva Falk" not in page
    # Counts per krets: one ballot and one signature issued in each.
    for text in sections.values():
        assert re.search(r"<dt>Röstsedlar</dt><dd>1</dd>", text)
        assert re.search(r"<dt>Utfärdade underskrifter</dt><dd>1</dd>", text)
    assert f'href="/api/v1/elections/{election.slug}/board"' in page
    assert f'href="/api/v1/elections/{election.slug}/manifest"' in page
    # The receipt check still works after the close: every ballot's code is marked.
    assert f'<code class="ballot-hash" data-ballot-hash>{bromma}</code>' in sections["Bromma"]
    # Not "Röstningen pågår" above "Röstningen har stängt" (issue 14): one state, said once.
    assert "Röstningen pågår" not in page


def test_before_voting_the_board_says_so(client, election, clock):
    clock.set(BEFORE)
    page = _board(client, election).get_data(as_text=True)
    assert "Röstningen har inte öppnat än." in page
    assert "Röstningen har stängt" not in page


def test_while_open_the_board_says_so_once_and_in_plain_words(client, election):
    page = _board(client, election).get_data(as_text=True)
    assert "Röstningen pågår till och med" in page
    assert "Röstningen har stängt" not in page
    assert "Anslagstavlan är den offentliga listan över alla röstsedlar" in page
    for word in ("ballot_hash", "hash)", "Kontrollsumma från"):
        assert word not in page


def test_the_page_is_csp_clean_and_linked_from_the_front_page(client, election):
    page = _board(client, election).get_data(as_text=True)
    # One script, from a file: the CSP allows no inline script.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/ballot/board.js" defer>']
    assert "style=" not in page
    assert '<label for="board-hash">' in page
    index = client.get("/").get_data(as_text=True)
    assert f'href="/val/{election.slug}/anslagstavla"' in index


def test_unknown_election_is_404(client, election):
    assert client.get("/val/nope/anslagstavla").status_code == 404
