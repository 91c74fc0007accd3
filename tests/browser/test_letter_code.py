"""A letter member scans the QR code on a phone: the code form, filled from the URL's fragment,
opens their ballot, and they vote. axe finds nothing on the form, at a phone's width and a
desktop's, and the code never appears in a URL the browser requests."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.test_axe_all_pages import Audit, axe_context  # noqa: F401 (a fixture)
from tests.letters.conftest import codes_in, setup_letters
from voting.ballot.models import VoterLink
from voting.db import db
from voting.letters.codes import code_hash

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_code_vote_on_a_phone(axe_context, live_app, live_server, clock, rsa_keys, database_url):  # noqa: F811
    base = live_server.url
    with live_app.app_context():
        setup = setup_letters(clock, rsa_keys, base)
        by_member = {}
        for code in codes_in(setup.pdf):
            link = db.session.scalar(
                select(VoterLink).where(VoterLink.token_hash == code_hash(code))
            )
            by_member[link.member_id] = code
        db.session.rollback()
    code = by_member["S4"]  # David Ek, Södermalm

    page = axe_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    # What the QR code holds: the form, the code in the fragment.
    page.goto(f"{base}/rosta/kod#{code}")
    field = page.get_by_label("Röstkod")
    # Playwright's expect, not wait_for_function: the page's CSP forbids the eval that a
    # polled string predicate needs.
    expect(field).to_have_value(code)
    assert page.url == f"{base}/rosta/kod"  # the fragment has left the address bar
    audit = Audit()
    audit.check(page, "letter code form")
    # A wrong code first: a clear page, the form again.
    field.fill("2222 2222 2222 2222")
    page.get_by_role("button", name="Fortsätt").click()
    page.get_by_text("Koden känns inte igen.").wait_for()
    audit.check(page, "letter code refused")
    assert audit.found == {}, audit.found

    page.get_by_label("Röstkod").fill(code.lower().replace("-", " "))
    page.get_by_role("button", name="Fortsätt").click()
    page.wait_for_url(re.compile(r".*/rosta$"))
    page.get_by_role("heading", name="Steg 1 av 4: Välj kandidater").wait_for()
    page.get_by_label("Anna Berg").check()
    page.get_by_label("Cecilia Dahl").check()
    page.get_by_role("button", name="Granska").click()
    page.get_by_role("button", name="Avge röst").click()
    page.get_by_role("heading", name="Din röst är registrerad", level=1).wait_for()
    ballot_hash = page.locator("#receipt-hash").inner_text().strip()
    board = page.request.get(f"{base}/api/v1/elections/{setup.slug}/board").json()
    soder = next(c for c in board["contests"] if c["krets"] == "SODERMALM")
    assert soder["ballot_hashes"] == [ballot_hash]

    typed = {code, code.replace("-", ""), code.lower().replace("-", " ")}
    for url in requested:
        assert not any(t in url or t.replace(" ", "+") in url for t in typed), url
