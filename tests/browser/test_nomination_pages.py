"""In Chromium: the questionnaire asks only what applies, the nominee page makes mistakes hard,
and the committee sees the photo it approves (issue 14, items 6, 7 and 15)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pyotp
import pytest
from PIL import Image

from tests.browser.helpers import loaded_width
from tests.factories import PASSWORD, make_staff
from tests.nominations.conftest import DURING, ELECTION_TOML, SLUG, add_member
from voting.db import db
from voting.elections.services import create_election
from voting.members.models import Forening
from voting.nominations.models import Nomination, NominationStatus
from voting.tokens import Purpose, issue

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _style(locator, prop):
    return locator.evaluate(f"el => getComputedStyle(el).{prop}")


def _seed(app):
    """The election, two members, a förening; Karl nominated, and his emailed link's token."""
    with app.app_context(), db.transaction() as s:
        election = create_election(s, ELECTION_TOML, DURING, by="cli")
        add_member(s, "1001", "Anna", "Svensson", "anna@example.org", "SODERMALM")
        add_member(s, "1002", "Karl Johan", "Berg", "karl@example.org", "SODERMALM")
        s.add(Forening(name="S-föreningen Söder", krets_code="SODERMALM", contact_email="s@x.se"))
        contest = next(c for c in election.contests if c.krets_code == "SODERMALM")
        nomination = Nomination(
            election_id=election.id,
            contest_id=contest.id,
            member_id="1002",
            status=NominationStatus.AWAITING_NOMINEE,
            created_at=DURING,
        )
        s.add(nomination)
        s.flush()
        token = issue(s, Purpose.NOMINEE, nomination.id, DURING, DURING + timedelta(days=30))
        return nomination.id, token


def test_the_questionnaire_shows_the_forening_list_only_when_it_applies(
    browser, live_app, live_server, clock
):
    clock.set(DURING)
    _seed(live_app)
    page = browser.new_page()
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/val/{SLUG}/nominera")
    assert page.get_by_text("tillfrågats och accepterat").count() == 0
    assert page.get_by_label("som enskild medlem").is_checked()
    forening = page.locator("#forening_id")
    assert not forening.is_visible()
    page.get_by_label("som kontaktperson för en förening").check()
    assert forening.is_visible()
    page.get_by_label("som enskild medlem").check()
    assert not forening.is_visible()

    # A label reads as a label: bold, and not in the hint's grey.
    label = page.locator('label[for="nominator_email"]')
    hint = page.locator("#nominator_email-hint")
    assert int(_style(label, "fontWeight")) >= 600
    assert int(_style(hint, "fontWeight")) < 600
    assert _style(label, "color") != _style(hint, "color")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_nominee_page_makes_mistakes_hard(browser, live_app, live_server, clock):
    clock.set(DURING)
    nomination_id, token = _seed(live_app)
    page = browser.new_page()
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/kandidat/{token}")
    page.get_by_role("button", name="Öppna kandidatsidan").click()
    page.wait_for_url("**/kandidat")

    # "No" does not look like "Yes", and asks again before it is final.
    yes = page.get_by_role("button", name="Ja, jag ställer upp")
    no = page.get_by_role("button", name="Nej, jag tackar nej")
    assert _style(yes, "backgroundColor") != _style(no, "backgroundColor")
    no.click()
    page.get_by_role("heading", name="Vill du verkligen tacka nej?").wait_for()
    final = page.get_by_role("button", name="Ja, jag tackar nej")
    assert _style(final, "backgroundColor") == "rgb(164, 18, 28)"  # the error red
    page.get_by_role("link", name="Avbryt, jag har inte bestämt mig").click()
    page.get_by_role("button", name="Ja, jag ställer upp").click()
    page.get_by_text("Tack! Du har tackat ja.").wait_for()

    # A photo chosen with a link that is refused is not lost.
    photo = io.BytesIO()
    Image.new("RGB", (1000, 1000), (20, 120, 200)).save(photo, format="PNG")
    page.get_by_label("Presentation", exact=True).fill("Jag vill arbeta för Södermalm.")
    page.get_by_label("Foto (JPEG eller PNG, högst 2 MB)").set_input_files(
        files=[{"name": "karl.png", "mimeType": "image/png", "buffer": photo.getvalue()}]
    )
    page.get_by_label("Länk 1").fill("mailto:karl@example.org")
    page.get_by_role("button", name="Spara presentationen").click()
    page.get_by_role("heading", name="Formuläret innehåller fel").wait_for()
    kept = page.get_by_role("img", name="Fotot du valde")
    assert loaded_width(kept) == 800
    page.get_by_label("Länk 1").fill("www.example.org/karl")
    page.get_by_role("button", name="Spara presentationen").click()
    page.get_by_text("Presentationen är sparad.").wait_for()
    assert page.get_by_label("Länk 1").input_value() == "https://www.example.org/karl"
    current = page.get_by_role("img", name="Ditt nuvarande foto")
    assert loaded_width(current) == 800

    # Removing the photo is a box to tick, not a second button beside "Spara".
    form = page.locator("form[enctype='multipart/form-data']")
    assert form.locator("[type=submit]").count() == 1
    assert form.get_by_role("checkbox", name="Ta bort det nuvarande fotot").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # The committee sees the photo, text and link before it approves.
    with live_app.app_context(), db.transaction() as s:
        user, secret = make_staff(s, "committee", DURING)
        email = user.email
    staff = browser.browser.new_context(locale="sv-SE")
    try:
        admin = staff.new_page()
        admin.goto(f"{live_server.url}/admin/val/{SLUG}/nomineringar")
        admin.get_by_label("E-postadress").fill(email)
        admin.get_by_label("Lösenord").fill(PASSWORD)
        admin.get_by_label("Kod från autentiseringsappen").fill(pyotp.TOTP(secret).at(clock()))
        admin.get_by_role("button", name="Logga in").click()
        admin.wait_for_url(re.compile(r".*/nomineringar\?*$"))
        card = admin.locator(f"#n{nomination_id}")
        assert "Jag vill arbeta för Södermalm." in card.inner_text()
        assert card.get_by_role("link", name="https://www.example.org/karl").count() == 1
        image = card.get_by_role("img", name="Foto på Karl Johan Berg")
        assert loaded_width(image) == 800
    finally:
        staff.close()
