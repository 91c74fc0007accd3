"""A voting link that cannot be used says, in plain Swedish, what happened and what to do.

Each case has its own heading and its own "Så gör du"; none shows the service's English
(issue 14, item 1). A used link is not an error: it shows "Du har röstat" (test_voting_flow.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import render_template
from sqlalchemy import update

from tests.ballot.conftest import AFTER
from voting.ballot.models import VoterLink
from voting.ballot.services import LINK_GRACE
from voting.db import db

DEVELOPER_WORDS = ("this voting link", "not valid", "expired", "replaced by", "hash", "token")


def _page(response) -> tuple[str, str]:
    """The page's h1 and its text without tags."""
    html = response.get_data(as_text=True)
    heading = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert heading is not None
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))
    return heading.group(1).strip(), text


def _plain(text: str) -> None:
    for word in DEVELOPER_WORDS:
        assert word not in text.lower(), word
    assert "Så gör du:" in text


def test_a_broken_link_says_to_click_the_whole_link(client, voting):
    response = client.get(f"/rosta/{voting.tokens['S1'][:-3]}")  # cut short in the copying
    assert response.status_code == 403
    heading, text = _page(response)
    assert heading == "Röstlänken fungerar inte"
    assert "Länken känns inte igen" in text
    assert "kopiera hela länken" in text
    assert "kan valberedningen skicka en ny röstlänk till dig" in text
    _plain(text)


def test_a_replaced_link_says_to_use_the_newest_mail(client, voting, clock):
    db.session.execute(
        update(VoterLink).where(VoterLink.member_id == "S1").values(revoked_at=clock())
    )
    db.session.commit()
    response = client.get(f"/rosta/{voting.tokens['S1']}")
    assert response.status_code == 403
    heading, text = _page(response)
    assert heading == "Den här röstlänken har ersatts av en nyare"
    assert "det senaste mejlet" in text
    assert "Har du redan röstat, är din röst kvar och gäller." in text
    _plain(text)
    assert "<title>Den här röstlänken har ersatts av en nyare" in response.get_data(as_text=True)


def test_an_expired_link_says_voting_is_over_and_points_to_the_board(client, voting, clock):
    clock.set(AFTER + LINK_GRACE + timedelta(days=1))
    response = client.get(f"/rosta/{voting.tokens['S1']}")
    assert response.status_code == 403
    heading, text = _page(response)
    assert heading == "Röstningen är avslutad"
    assert "röstlänkarna fungerar inte längre" in text
    assert f'href="/val/{voting.slug}/anslagstavla"' in response.get_data(as_text=True)
    _plain(text)


def test_the_ballot_page_without_a_link_says_to_open_the_link(client, voting):
    response = client.get("/rosta")
    assert response.status_code == 403
    heading, text = _page(response)
    assert heading == "Öppna röstlänken från ditt mejl"
    assert "Klicka på röstlänken i det senaste mejlet" in text
    _plain(text)


@pytest.mark.parametrize(
    ("problem", "heading"),
    [
        ("unknown", "Röstlänken fungerar inte"),
        ("replaced", "Den här röstlänken har ersatts av en nyare"),
        ("expired", "Röstningen är avslutad"),
        ("not_on_roll", "Du finns inte med i röstlängden"),
        ("no_session", "Öppna röstlänken från ditt mejl"),
    ],
)
def test_every_case_has_its_own_heading_and_what_to_do(app, problem, heading):
    with app.test_request_context("/rosta"):
        html = render_template("ballot/link_invalid.html", problem=problem, election=None)
    assert f"<h1>{heading}</h1>" in html
    assert f'data-problem="{problem}"' in html
    if problem != "expired":  # without an election there is no board to point to
        assert "Så gör du:" in html


def test_the_link_pages_in_english(client, voting, clock):
    """English for each case, not the service's developer text (after the catalog merge)."""
    db.session.execute(
        update(VoterLink).where(VoterLink.member_id == "S1").values(revoked_at=clock())
    )
    db.session.commit()
    replaced = client.get(f"/rosta/{voting.tokens['S1']}?lang=en")
    heading, text = _page(replaced)
    assert heading == "This voting link has been replaced by a newer one"
    assert "What to do:" in text
    assert "not valid" not in text
    heading, text = _page(client.get(f"/rosta/{voting.tokens['S2'][:-3]}?lang=en"))
    assert heading == "The voting link does not work"
    assert "The link is not recognised." in text
