"""From the receipt to the board: the receipt's code is filled in and looked up in the browser,
and no request ever carries it (issue 14, items 5, 17 and 18)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.ballot.conftest import AFTER, setup_voting
from voting.db import db
from voting.elections.services import get_election
from voting.lifecycle.seal import seal_board

pytestmark = pytest.mark.browser


def _vote(page, base: str, token: str) -> str:
    page.goto(f"{base}/rosta/{token}")
    page.get_by_role("heading", name="Steg 1 av 4: Välj kandidater").wait_for()
    page.get_by_label("Anna Berg").check()
    page.get_by_label("Cecilia Dahl").check()
    page.get_by_role("button", name="Granska ditt val").click()
    page.get_by_role("button", name="Avge röst").click()
    page.get_by_role("heading", name="Din röst är registrerad", level=1).wait_for()
    return page.locator("#receipt-hash").inner_text().strip()


def test_the_receipt_opens_the_board_with_its_code_found(
    browser, live_app, live_server, clock, rsa_keys
):
    with live_app.app_context():
        setup = setup_voting(live_app, clock, rsa_keys, live_server.url)
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.url} {request.post_data or ''}"))
    code = _vote(page, live_server.url, setup.tokens["S1"])
    assert re.fullmatch(r"[0-9a-f]{64}", code)

    page.get_by_role("link", name="Se att din röst finns på anslagstavlan").click()
    page.wait_for_url(f"{live_server.url}/val/{setup.slug}/anslagstavla")  # no query, no fragment
    result = page.locator("#board-result")
    result.get_by_text("Ja, din röstsedel finns på anslagstavlan i krets Södermalm.").wait_for()
    assert page.locator("#board-hash").input_value() == code
    # Handed over once: a reload starts with an empty box.
    page.reload()
    assert page.locator("#board-hash").input_value() == ""
    assert page.locator("#board-result").inner_text() == ""

    # Typed by hand, with capitals and spaces as a copy may bring them.
    page.get_by_label("Kvittokod från ditt kvitto").fill(f"  {code[:32].upper()} {code[32:]} ")
    page.get_by_role("button", name="Sök", exact=True).click()
    result.get_by_text("Ja, din röstsedel finns").wait_for()

    page.get_by_label("Kvittokod från ditt kvitto").fill("0" * 64)
    page.get_by_role("button", name="Sök", exact=True).click()
    result.get_by_text("Nej, den kvittokoden finns inte på anslagstavlan.").wait_for()

    page.get_by_label("Kvittokod från ditt kvitto").fill("not-a-code")
    page.get_by_role("button", name="Sök", exact=True).click()
    error = page.locator("#board-hash-error")
    error.get_by_text("Kvittokoden ska vara 64 tecken").wait_for()
    assert page.locator("#board-hash").get_attribute("aria-invalid") == "true"
    assert "board-hash-error" in (
        page.locator("#board-hash").get_attribute("aria-describedby") or ""
    )
    assert page.locator("#board-result").inner_text() == ""

    # F3: not one request, of the page or of its scripts, carried the receipt's code.
    assert requests
    assert not [line for line in requests if code in line or code.upper() in line]


def test_after_the_close_the_lookup_still_works_and_old_receipts_go(
    browser, live_app, live_server, clock, rsa_keys
):
    with live_app.app_context():
        setup = setup_voting(live_app, clock, rsa_keys, live_server.url)
    page = browser.new_page()
    code = _vote(page, live_server.url, setup.tokens["S1"])
    clock.set(AFTER)
    with live_app.app_context(), db.transaction() as s:
        seal_board(s, get_election(s, setup.slug), AFTER, by="cli")
    # A receipt on this device whose keeping time is over: the board page removes it too.
    stale = 'kongressval.v1.receipt.["annat-val","1","x"]'
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    page.evaluate(
        "([key, value]) => window.localStorage.setItem(key, value)",
        [stale, json.dumps({"ballot_hash": "ab" * 32, "forget_after": past})],
    )
    page.goto(f"{live_server.url}/val/{setup.slug}/anslagstavla")
    text = page.locator("main").inner_text()
    assert "Röstningen har stängt." in text
    assert "Röstningen pågår" not in text
    page.get_by_label("Kvittokod från ditt kvitto").fill(code)
    page.get_by_role("button", name="Sök", exact=True).click()
    page.locator("#board-result").get_by_text("Ja, din röstsedel finns").wait_for()
    assert stale not in page.evaluate("() => Object.keys(window.localStorage)")
