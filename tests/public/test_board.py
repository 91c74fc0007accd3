"""The public ballot board page: hashes and the receipt check while open, ballots after."""

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
    assert f'<code class="ballot-hash">{digest}</code>' in page
    assert "1 röstsedel hittills." in page
    # While voting is open the choices stay hidden: no candidate name on the page.
    for name in ("Anna Berg", "Bo Åberg", "Cecilia Dahl"):
        assert name not in page

    found = _board(client, election, hash=f"  {digest.upper()} ").get_data(as_text=True)
    assert "Ja, din röstsedel finns på anslagstavlan i krets Södermalm." in found
    assert 'role="status"' in found

    missing = _board(client, election, hash="0" * 64).get_data(as_text=True)
    assert "Nej, den kontrollsumman finns inte på anslagstavlan." in missing
    assert "Ja, din röstsedel" not in missing


def test_a_malformed_hash_is_explained(client, election):
    response = _board(client, election, hash="not-a-hash")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Kontrollsumma: ska vara 64 tecken" in page
    assert 'aria-describedby="hash-hint hash-error"' in page
    assert 'aria-invalid="true"' in page


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
    # The receipt check still works after the close.
    found = _board(client, election, hash=bromma).get_data(as_text=True)
    assert "Ja, din röstsedel finns på anslagstavlan i krets Bromma." in found


def test_before_voting_the_board_says_so(client, election, clock):
    clock.set(BEFORE)
    page = _board(client, election).get_data(as_text=True)
    assert "Röstningen har inte öppnat än." in page


def test_the_page_is_csp_clean_and_linked_from_the_front_page(client, election):
    page = _board(client, election).get_data(as_text=True)
    assert "<script" not in page
    assert "style=" not in page
    assert '<label for="hash">' in page
    index = client.get("/").get_data(as_text=True)
    assert f'href="/val/{election.slug}/anslagstavla"' in index


def test_unknown_election_is_404(client, election):
    assert client.get("/val/nope/anslagstavla").status_code == 404
