"""A member opens the emailed voting link, chooses, casts and sees the receipt on the board."""

from __future__ import annotations

import re

import pytest

from tests.ballot.conftest import setup_voting

pytestmark = pytest.mark.browser


def _deliver(app, clock):
    from voting.mail.delivery import deliver_due

    with app.app_context():
        deliver_due(app.extensions["db"]["sessionmaker"], app.config, clock)


def _voting_link(smtp, address):
    for message in reversed(smtp.to(address)):
        match = re.search(r"(https?://\S+/rosta/[A-Za-z0-9_-]+)", message.get_content())
        if match:
            return match.group(1)
    raise AssertionError(f"no voting link mailed to {address}")


def test_vote_through_the_emailed_link(browser, live_app, live_server, smtp, clock, rsa_keys):
    with live_app.app_context():
        setup = setup_voting(live_app, clock, rsa_keys, live_server.url)
    _deliver(live_app, clock)
    link = _voting_link(smtp, "S1@example.org")

    page = browser.new_page()
    page.goto(link)
    assert page.url == f"{live_server.url}/rosta"  # the token has left the address bar
    page.get_by_role("heading", name="Steg 1 av 4: Välj kandidater").wait_for()
    # Södermalm has 2 seats: exactly two names. One is not enough.
    page.get_by_label("Anna Berg").check()
    page.get_by_role("button", name="Granska").click()
    page.locator("#choose-error").get_by_text("Markera exakt 2 namn").wait_for()
    page.get_by_label("Cecilia Dahl").check()
    page.get_by_role("button", name="Granska").click()
    page.get_by_role("heading", name="Steg 2 av 4: Granska ditt val").wait_for()
    page.get_by_role("button", name="Avge röst").click()
    page.get_by_role("heading", name="Din röst är registrerad", level=1).wait_for()
    ballot_hash = page.locator("#receipt-hash").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", ballot_hash)

    board = page.request.get(f"{live_server.url}/api/v1/elections/{setup.slug}/board").json()
    soder = next(c for c in board["contests"] if c["krets"] == "SODERMALM")
    assert soder["ballot_hashes"] == [ballot_hash]

    # The same link again, in a fresh browser: the signature was issued, no second vote.
    again = browser.new_page()
    again.context.clear_cookies()
    again.goto(link)
    again.locator("#issued-no-vote").wait_for()
    assert again.locator("#step-choose").is_hidden()
