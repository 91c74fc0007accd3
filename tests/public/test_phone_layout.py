"""The public pages on a 390 px wide phone, measured in a real Chromium: nothing wider than the
screen, tap-sized krets links, cards flush with the page, radio buttons beside their labels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.ballot.conftest import setup_voting
from tests.public.test_results_page import cast_and_count, publish
from voting.db import db
from voting.elections.services import get_election

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
NOMINATION_OPEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def phone(browser):
    page = browser.new_page()
    page.set_viewport_size(PHONE)
    yield page
    page.close()


def _page_width(page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_results_page_fits_a_phone(phone, live_app, live_server, clock, rsa_keys):
    with live_app.app_context():
        election = setup_voting(live_app, clock, rsa_keys, live_server.url)
        cast_and_count(live_app.test_client(), clock, election)
        publish(election.slug)
    phone.goto(f"{live_server.url}/val/{election.slug}/resultat")
    phone.get_by_role("heading", name="Lika röster avgjorda genom lottning").wait_for()
    assert _page_width(phone) <= PHONE["width"]
    # The tie table's last column ("Utfall") is on the screen, not pushed off it.
    outcome = phone.locator("tr.tie td:last-child").first.bounding_box()
    assert outcome is not None
    assert outcome["x"] + outcome["width"] <= PHONE["width"]


def test_candidate_list_on_a_phone(phone, live_app, live_server, clock, rsa_keys):
    with live_app.app_context():
        election = setup_voting(live_app, clock, rsa_keys, live_server.url)
    phone.goto(f"{live_server.url}/val/{election.slug}/kandidater")
    assert _page_width(phone) <= PHONE["width"]
    links = phone.locator("nav .jump-links a")
    assert links.count() == 2
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box is not None
        assert box["height"] >= 44
    heading = phone.locator("section.krets h2").first.bounding_box()
    card = phone.locator("li.candidate").first.bounding_box()
    assert heading is not None
    assert card is not None
    assert abs(card["x"] - heading["x"]) <= 1  # no list indent


def test_nomination_radios_beside_their_labels(phone, live_app, live_server, clock, rsa_keys):
    with live_app.app_context():
        election = setup_voting(live_app, clock, rsa_keys, live_server.url)
        with db.transaction() as s:
            get_election(s, election.slug).candidates_published_at = None
    clock.set(NOMINATION_OPEN)
    phone.goto(f"{live_server.url}/val/{election.slug}/nominera")
    radio = phone.get_by_label("som kontaktperson för en förening")
    label = phone.locator("label", has_text="som kontaktperson för en förening")
    radio_box, label_box = radio.bounding_box(), label.bounding_box()
    assert radio_box is not None
    assert label_box is not None
    assert label_box["x"] > radio_box["x"] + radio_box["width"] - 1
    # Same line: the radio's middle lies within the label's height.
    middle = radio_box["y"] + radio_box["height"] / 2
    assert label_box["y"] <= middle <= label_box["y"] + label_box["height"]
