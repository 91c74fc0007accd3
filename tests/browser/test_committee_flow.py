"""The committee logs in with TOTP, approves an accepted nomination, publishes, and the
candidate shows on the public list."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pyotp
import pytest

from tests.factories import (
    PASSWORD,
    make_election,
    make_member,
    make_nomination,
    make_staff,
)
from voting.db import db
from voting.log.services import entries

pytestmark = pytest.mark.browser


def test_committee_approves_and_publishes(browser, live_server, live_app, clock):
    now = clock()
    with live_app.app_context(), db.transaction() as s:
        election = make_election(s, now, slug="val-webb", closes_in=timedelta(minutes=10))
        nominator = make_member(s, "SODERMALM", "Nils", "Nominerare", now)
        nominee = make_member(s, "SODERMALM", "Åsa", "Örn", now)
        make_nomination(s, election, nominee, now, nominators=[nominator])
        user, secret = make_staff(s, "committee", now)
        email = user.email

    page = browser.new_page()
    page.goto(live_server.url + "/admin/val/val-webb/nomineringar")
    assert "/admin/login" in page.url  # sent to log in first, and back afterwards
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_label("Kod från autentiseringsappen").fill(pyotp.TOTP(secret).at(clock()))
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(re.compile(r".*/admin/val/val-webb/nomineringar\?*$"))

    card = page.locator("li.card", has_text="Åsa Örn")
    assert "Väntar på granskning" in card.inner_text()
    card.get_by_text("Nomineringar som slagits ihop (1)").click()  # open the <details>
    assert "Nils Nominerare" in card.inner_text()
    card.get_by_role("button", name="Godkänn Åsa Örn").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").filter(has_text="är godkänd som kandidat").count() == 1
    assert "Godkänd" in page.locator("li.card", has_text="Åsa Örn").inner_text()

    page.goto(live_server.url + "/admin/val/val-webb/publicera")
    assert page.get_by_text("Nomineringsperioden har inte stängt").count() == 1
    assert page.get_by_role("button", name="Publicera kandidatlistorna").count() == 0

    clock.set(now + timedelta(minutes=11))  # past the close, within the login's hour
    page.reload()
    assert page.get_by_text("Det här hindrar publiceringen").count() == 0
    page.get_by_label("Jag har kontrollerat och vill fortsätta").check()
    # One candidate for Södermalm's seats and none in Bromma: no vote there, and the page says so.
    assert page.get_by_role("heading", name="Kretsar utan omröstning").count() == 1
    page.get_by_role("button", name="Publicera kandidatlistorna").click()
    page.wait_for_load_state()
    assert page.get_by_text("Kryssa i rutan för att bekräfta att kretsarna").count() >= 1
    page.get_by_label("Jag har kontrollerat och vill fortsätta").check()
    page.get_by_label("Jag har sett att kretsarna ovan inte får någon omröstning").check()
    page.get_by_role("button", name="Publicera kandidatlistorna").click()
    page.wait_for_url(re.compile(r".*/admin/val/val-webb/kandidater$"))
    assert (
        page.get_by_role("status").filter(has_text="Kandidatlistorna är publicerade").count() == 1
    )

    with live_app.app_context():
        (event,) = entries(db.session, "val-webb", "candidates.published")
        hashes = [c["list_hash"] for c in json.loads(event.body)["data"]["contests"]]
    assert all(page.get_by_text(h).count() == 1 for h in hashes)

    browser.clear_cookies()  # now as a visitor, without the staff login
    public = browser.new_page()
    public.goto(live_server.url + "/val/val-webb/kandidater")
    section = public.locator("section", has_text="Södermalm")
    assert section.get_by_role("heading", name="Åsa Örn").count() == 1
    assert "kandidaterna väljs utan omröstning" in section.inner_text()
    assert public.get_by_role("link", name="Logga ut").count() == 0
