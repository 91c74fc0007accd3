"""On a phone: nominate, confirm by mail; the nominee accepts and writes a presentation."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.browser.helpers import loaded_width
from tests.nominations.conftest import DURING, ELECTION_TOML, SLUG, add_member
from voting.db import db
from voting.elections.services import create_election
from voting.members.models import Forening

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _deliver(app, clock):
    """Send the outbox to the test SMTP server, as the mail worker would."""
    from voting.mail.delivery import deliver_due

    with app.app_context():
        deliver_due(app.extensions["db"]["sessionmaker"], app.config, clock)


def _link(smtp, address, kind):
    for message in reversed(smtp.to(address)):
        match = re.search(rf"(https?://\S+/{kind}/[A-Za-z0-9_-]+)", message.get_content())
        if match:
            return match.group(1)
    raise AssertionError(f"no {kind} link mailed to {address}")


def _fits_the_screen(page):
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_nominate_confirm_accept_and_present(browser, live_app, live_server, smtp, clock):
    clock.set(DURING)
    with live_app.app_context(), db.transaction() as s:
        create_election(s, ELECTION_TOML, DURING, by="cli")
        add_member(s, "1001", "Anna", "Svensson", "anna@example.org", "SODERMALM")
        add_member(s, "1002", "Karl Johan", "Berg", "karl@example.org", "SODERMALM")
        s.add(Forening(name="S-föreningen Söder", krets_code="SODERMALM", contact_email="s@ex.org"))

    page = browser.new_page()
    page.set_viewport_size(PHONE)

    # The nominator fills in the questionnaire on a phone.
    page.goto(f"{live_server.url}/val/{SLUG}/nominera")
    assert _fits_the_screen(page)
    page.get_by_label("Din e-postadress").fill("anna@example.org")
    page.get_by_label("som enskild medlem").check()
    page.get_by_label("Den nominerades förnamn").fill("Karl")
    page.get_by_label("Den nominerades efternamn").fill("Berg")
    page.get_by_label("Den nominerades medlemsnummer eller personnummer").fill("1002")
    page.get_by_label("Motivering (frivillig)").fill("Karl har lång erfarenhet.")
    page.get_by_role("button", name="Skicka nomineringen").click()
    # The page claims no success: the answer, whatever it is, comes by mail.
    page.get_by_text("Svaret kommer med e-post till anna@example.org").wait_for()

    # The confirmation link arrives by mail; opening it only shows a button (a mail scanner
    # opening it first confirms nothing); pressing it confirms and drops the token.
    _deliver(live_app, clock)
    confirm_link = _link(smtp, "anna@example.org", "nominera/bekrafta")
    page.goto(confirm_link)
    assert page.url == confirm_link
    assert _fits_the_screen(page)
    page.get_by_role("button", name="Bekräfta nomineringen").click()
    page.wait_for_url("**/nominera/bekraftad")
    page.get_by_role("heading", name="Tack! Nomineringen är bekräftad").wait_for()

    # The nominee's own link, in the nominee's own browser.
    _deliver(live_app, clock)
    nominee_link = _link(smtp, "karl@example.org", "kandidat")
    nominee = browser.new_page()
    nominee.set_viewport_size(PHONE)
    nominee.goto(nominee_link)
    assert _fits_the_screen(nominee)
    nominee.get_by_role("button", name="Öppna kandidatsidan").click()
    nominee.wait_for_url("**/kandidat")
    nominee.get_by_text("Karl Johan Berg").wait_for()
    nominee.get_by_role("button", name="Ja, jag ställer upp").click()
    nominee.get_by_text("Tack! Du har tackat ja.").wait_for()

    photo = io.BytesIO()
    Image.new("RGB", (1000, 1000), (20, 120, 200)).save(photo, format="PNG")
    nominee.get_by_label("Presentation", exact=True).fill("Jag vill arbeta för Södermalm.")
    nominee.get_by_label("Foto (JPEG eller PNG, högst 2 MB)").set_input_files(
        files=[{"name": "karl.png", "mimeType": "image/png", "buffer": photo.getvalue()}]
    )
    nominee.get_by_label("Länk 1").fill("www.example.org/karl")
    nominee.get_by_role("button", name="Spara presentationen").click()
    nominee.get_by_text("Presentationen är sparad.").wait_for()
    assert nominee.get_by_label("Presentation", exact=True).input_value() == (
        "Jag vill arbeta för Södermalm."
    )
    # Typed without https://, it was completed rather than refused.
    assert nominee.get_by_label("Länk 1").input_value() == "https://www.example.org/karl"
    image = nominee.get_by_role("img", name="Ditt nuvarande foto")
    image.wait_for()
    assert loaded_width(image) == 800
    assert _fits_the_screen(nominee)

    # The used link, opened again in another browser (own cookies), sends a fresh one instead.
    other = browser.browser.new_context(locale="sv-SE")
    try:
        stranger = other.new_page()
        stranger.goto(nominee_link)
        stranger.get_by_role("button", name="Öppna kandidatsidan").click()
        stranger.get_by_text("Vi har skickat en ny länk till din e-post.").wait_for()
        assert not stranger.url.endswith("/kandidat")
    finally:
        other.close()
