"""The check page in Chromium: a member whose name was used for a vote sees it under their code.

The ghost vote: an election run through the app, in which a signature is written into the
database in the name of a member who never voted. The record verifies; the member types their
code on the check page, in Swedish and in English, and is told that a ballot was signed for it
and how to report it. The code never leaves the browser, and the list is fetched without cookies.
"""

from __future__ import annotations

import pytest

from auditlog import verify as verifier
from tests.audit.test_record import SLUG, counted_election, export
from tests.ballot.test_voter_codes import _codes_by_member, ghost_signature, member_id_of

pytestmark = pytest.mark.browser


def test_a_member_sees_the_vote_cast_in_their_name(browser, live_app, live_server, clock, tmp_path):
    with live_app.app_context():
        counted_election(
            live_app,
            clock,
            before_seal=lambda: ghost_signature(live_app, SLUG, member_id_of("Gun")),
        )
        record = export(live_app.test_cli_runner(), tmp_path / "record.json")
        by_member = _codes_by_member(SLUG)
        gun, eva, cecilia = (by_member[member_id_of(n)] for n in ("Gun", "Eva", "Cecilia"))
    checks = verifier.verify_record(record, expected_fingerprint=record["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert any(gun in c["issued_codes"] for c in record["contests"])

    page = browser.new_page()
    sent: list[tuple[str, str | None, dict[str, str]]] = []
    page.on("request", lambda r: sent.append((r.url, r.post_data, r.headers)))
    page.goto(f"{live_server.url}/?lang=sv")  # a session cookie, as a member's browser has one
    assert any(c["name"] == "kv_session" for c in browser.cookies())
    page.goto(f"{live_server.url}/val/{SLUG}/kontrollera")
    field = page.get_by_label("Din väljarkod")
    result = page.locator("#check-result")

    def check(typed: str, button: str = "Kontrollera") -> str:
        field.fill(typed)
        page.get_by_role("button", name=button, exact=True).click()
        # A selector wait, not wait_for_function: the page's CSP forbids the eval that a
        # polled string predicate needs.
        page.wait_for_selector("#check-result:not(:empty)")
        text = result.inner_text()
        page.evaluate("document.querySelector('#check-result').textContent = ''")
        return text

    # Gun's code, typed in lower case without dashes: a ballot was signed for it.
    said = check(gun.lower().replace("-", " "))
    assert f"En röstsedel signerades för koden {gun} (krets Syd): någon röstade med den." in said
    assert "Röstade du inte, har någon röstat i ditt namn. Anmäl det." in said
    report = page.locator("#check-report")
    assert report.is_visible()
    assert "Anmäl det till valberedningen och till revisorerna" in report.inner_text()
    assert report.get_by_role("link", name="valberedningen@example.org").is_visible()

    assert f"En röstsedel signerades för koden {eva} (krets Syd)" in check(eva)
    said = check(cecilia)
    assert f"Ingen röstsedel signerades för koden {cecilia} (krets Norr)" in said
    assert "finns inte i röstlängden" in check("2222-2222-22")
    assert "Det är inte en väljarkod" in check(gun[:-1] + "O")  # O is never in a code
    assert not report.is_visible()

    # The server heard nothing of the codes typed; the lists came without the session cookie.
    typed = [gun, gun.replace("-", ""), eva, cecilia, "2222-2222-22"]
    for url, body, _headers in sent:
        assert not any(code in url or code in (body or "") for code in typed), url
    [lists] = [h for url, _b, h in sent if url.endswith(f"/api/v1/elections/{SLUG}/voter-codes")]
    assert "cookie" not in {k.lower() for k in lists}

    # In English.
    page.goto(f"{live_server.url}/val/{SLUG}/kontrollera?lang=en")
    field = page.get_by_label("Your voter code")
    said = check(gun, button="Check")
    assert f"A ballot was signed for the code {gun} (krets Syd): someone voted with it." in said
    assert "If you did not vote, someone voted in your name. Report it." in said
    assert "Report it to the election committee and to the auditors" in report.inner_text()
    page.get_by_role(
        "link", name="How the check works, and what to do if something is wrong"
    ).click()
    page.get_by_role("heading", name="Check that nobody voted in your name").wait_for()
