"""Postal ballots in Chromium, by keyboard: two committee members register and confirm outer
envelopes, then enter a batch twice, settle the one mismatch and accept it; axe-core finds
nothing on the two postal pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.ballot.conftest import AFTER, setup_voting
from tests.factories import PASSWORD, make_staff
from voting.db import db
from voting.members.models import Channel, Member

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => (await axe.run(document, {resultTypes: ["violations"]}))
  .violations.map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "))"""


def _login(page: Any, base: str, email: str, secret: str, moment: Any) -> None:
    page.goto(base + "/admin/login")
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_label("Kod från autentiseringsappen").fill(pyotp.TOTP(secret).at(moment))
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(re.compile(r".*/admin/$"))


def _axe(page: Any) -> list[str]:
    if not AXE.exists():
        return []  # the axe run of tests/browser/test_axe_all_pages.py says why
    page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE)


@pytest.fixture
def chromium(_playwright_browser: Any) -> Any:
    """The shared Chromium, to open one context per committee member (their own cookies)."""
    return _playwright_browser


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_envelopes_and_double_entry_by_keyboard(
    chromium, live_app, live_server, clock, rsa_keys, database_url
):
    base = live_server.url
    with live_app.app_context():
        setup = setup_voting(live_app, clock, rsa_keys, base)
        with db.transaction() as s:
            for member_id in ("S3", "S4"):
                s.get_one(Member, member_id).channel = Channel.POSTAL.value
            staff = [make_staff(s, "committee", clock()) for _ in range(2)]
            logins = [(user.email, secret) for user, secret in staff]
    contexts = [chromium.new_context(locale="sv-SE", bypass_csp=True) for _ in range(2)]
    try:
        first, second = (c.new_page() for c in contexts)
        postal = f"{base}/admin/val/{setup.slug}/post"
        _login(first, base, *logins[0], clock())
        first.goto(postal)
        for member_id in ("S3", "S4"):
            # The member number field has the focus: type, Enter, and on to the next.
            first.locator("#envelope-member_id:focus").wait_for()
            first.keyboard.type(member_id)
            first.keyboard.press("Enter")
            first.get_by_text(f"Kuvertet från medlem {member_id} är registrerat.").wait_for()
        assert "registrerat av dig" in first.content()
        assert first.get_by_role("button", name="Bekräfta kuvertet från S3").count() == 0
        assert _axe(first) == []
        _login(second, base, *logins[1], clock())
        second.goto(postal)
        for member_id in ("S3", "S4"):
            second.get_by_role("button", name=f"Bekräfta kuvertet från {member_id}").click()
            second.get_by_text(f"Kuvertet från medlem {member_id} är bekräftat.").wait_for()

        clock.set(AFTER)  # after the close any batch size; the sessions start anew
        _login(first, base, *logins[0], clock())
        first.goto(postal)
        first.get_by_label("Krets").select_option(label="Södermalm")
        first.get_by_label("Antal innerkuvert").fill("2")
        first.get_by_role("button", name="Öppna omgången").click()
        first.wait_for_url(re.compile(r".*/post/omgang/\d+$"))
        batch = first.url
        assert _axe(first) == []
        for marks in ("1 2", "1 3"):
            first.locator("#entry-marks:focus").wait_for()
            first.keyboard.type(marks)  # the marks field has the focus, the number is filled in
            first.keyboard.press("Enter")
            first.get_by_text("är inmatad.").wait_for()
        _login(second, base, *logins[1], clock())
        second.goto(batch)
        for marks in ("1 2", "2 3"):
            second.locator("#entry-marks:focus").wait_for()
            second.keyboard.type(marks)
            second.keyboard.press("Enter")
            second.get_by_text("är inmatad.").wait_for()
        assert second.locator("#postal-mismatch").inner_text() == "2"
        second.get_by_role("button", name="Godkänn omgången").click()
        second.get_by_text("alla röstsedlar är inte inmatade två gånger och överens").wait_for()
        resolve = second.get_by_role(
            "group", name="Avgör en röstsedel vars inmatningar skiljer sig"
        )
        resolve.get_by_label("Röstsedel nummer").fill("2")
        resolve.get_by_label("Kryssade kandidatnummer").fill("1 3")
        resolve.get_by_role("button", name="Avgör").click()
        second.get_by_text("Röstsedel 2 är avgjord.").wait_for()
        second.get_by_role("button", name="Godkänn omgången").click()
        second.get_by_text("Omgången är godkänd: 2 giltiga och 0 ogiltiga röstsedlar.").wait_for()
    finally:
        for context in contexts:
            context.close()
