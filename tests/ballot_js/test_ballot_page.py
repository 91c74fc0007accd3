"""voting/static/ballot.js in Chromium against the Python blind-signature code.

The page is the real template with the real bundle under the app's CSP; the API answers come from
``ballots.blindrsa.BlindSigner`` and are checked with ``parse_ballot`` and ``verify``.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ballots.ballot import b64url_decode, ballot_hash, parse_ballot
from ballots.blindrsa import verify
from tests.ballot_js.conftest import (
    CONTEST_ID,
    ORIGIN,
    SLUG,
    BallotPage,
    FakeContest,
    FakeElection,
    candidate,
)

pytestmark = pytest.mark.browser

PENDING_KEY = f'kongressval.v1.pending.["{SLUG}","{CONTEST_ID}","member-a"]'
RECEIPT_KEY = f'kongressval.v1.receipt.["{SLUG}","{CONTEST_ID}","member-a"]'


def heading_focused(page: Any, step: str) -> bool:
    return page.evaluate("() => document.activeElement && document.activeElement.id") == (
        f"{step}-heading"
    )


def choose_and_review(page: Any, names: list[str]) -> None:
    for name in names:
        page.get_by_label(name, exact=True).check()
    page.get_by_role("button", name="Granska ditt val").click()
    page.locator("#step-review-heading").wait_for(state="visible")


def cast(page: Any) -> None:
    page.get_by_role("button", name="Avge röst").click()


def wait_receipt(page: Any) -> str:
    """Wait for the receipt; fail at once with the page's own message if an error shows instead."""
    page.locator("#step-receipt-heading:visible, #cast-error p").first.wait_for()
    error = page.locator("#cast-error").inner_text()
    assert not error, f"the page shows an error instead of a receipt: {error}"
    return page.locator("#receipt-hash").inner_text()


def check_stored_ballot(bp: BallotPage, expected_choices: tuple[str, ...]) -> dict[str, Any]:
    """Exactly one ballot arrived; it is canonical, names the choices and its signature verifies."""
    assert len(bp.server.ballots) == 1
    (stored,) = bp.server.ballots.values()
    parsed = parse_ballot(
        stored["ballot"],
        election=SLUG,
        contest=CONTEST_ID,
        candidate_ids={c["id"] for c in bp.server.candidates},
        rule=bp.server.rule,
    )
    assert parsed.canonical() == stored["ballot"]
    assert parsed.choices == expected_choices
    prefix = b64url_decode(stored["msg_prefix"], length=32)
    verify(
        bp.server.key.public_key(),
        prefix + stored["ballot"].encode(),
        b64url_decode(stored["signature"]),
    )
    return stored


def test_vote_through_the_page_verifies_with_the_python_server(make_ballot_page, tmp_path):
    bp = make_ballot_page()
    bp.context.add_cookies([{"name": "kv_session", "value": "member-session", "url": ORIGIN}])
    page = bp.open()

    assert page.locator("#step-choose").is_visible()
    assert page.locator("legend").inner_text() == "Markera exakt 2 namn"
    assert page.locator("#choose-counter").inner_text() == "Du har markerat 0 av 2 namn."
    assert page.locator("#choose-counter").get_attribute("aria-live") == "polite"
    link = page.get_by_role("link", name="https://example.org/anna")
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.get_by_role("img", name="Anna Andersson").count() == 1

    # Too few, then too many: the page refuses to go on and says why, in an alert.
    page.get_by_label("Anna Andersson").check()
    page.get_by_role("button", name="Granska ditt val").click()
    alert = page.locator("#choose-error")
    assert alert.get_attribute("role") == "alert"
    assert alert.inner_text() == "Markera exakt 2 namn. Du har markerat 1."
    page.get_by_label("Bo Berg").check()
    page.get_by_label("Cecilia Čapek").check()
    assert "för många" in page.locator("#choose-counter").inner_text()
    page.get_by_role("button", name="Granska ditt val").click()
    assert alert.inner_text() == "Markera exakt 2 namn. Du har markerat 3."
    assert not page.locator("#step-review").is_visible()
    page.get_by_label("Anna Andersson").uncheck()
    assert alert.inner_text() == ""

    page.get_by_role("button", name="Granska ditt val").click()
    assert page.locator("#step-review").is_visible()
    assert heading_focused(page, "step-review")
    assert page.locator("#review-choices li").all_inner_texts() == ["Bo Berg", "Cecilia Čapek"]
    page.get_by_role("button", name="Ändra").click()
    assert heading_focused(page, "step-choose")
    assert page.get_by_label("Bo Berg").is_checked()
    page.get_by_role("button", name="Granska ditt val").click()
    cast(page)
    shown_hash = wait_receipt(page)
    # The receipt is the page's message: its main heading, focused, and the page's title.
    assert heading_focused(page, "ballot")
    assert page.locator("h1").inner_text() == "Din röst är registrerad"
    assert page.title() == "Din röst är registrerad – Kongressval 2026"

    # Python sorts "100" before "9" (code points), and so must the page.
    stored = check_stored_ballot(bp, ("100", "9"))
    prefix = b64url_decode(stored["msg_prefix"])
    assert shown_hash == ballot_hash(prefix, stored["ballot"].encode())
    assert len(b64url_decode(bp.server.sign_requests[0]["body"]["blinded_msg"])) == 256

    # The signing request carries the session and the CSRF header; the cast carries neither.
    sign_headers = bp.server.sign_requests[0]["headers"]
    assert sign_headers["x-csrftoken"] == bp.csrf
    assert "member-session" in sign_headers.get("cookie", "")
    cast_headers = bp.server.cast_requests[0]["headers"]
    assert "cookie" not in cast_headers
    assert "x-csrftoken" not in cast_headers

    storage = bp.storage()
    assert PENDING_KEY not in storage
    assert storage[RECEIPT_KEY]["ballot_hash"] == shown_hash
    assert storage[RECEIPT_KEY]["forget_after"]  # removed some days after the close

    with page.expect_download() as info:
        page.get_by_role("link", name="Ladda ner kvitto").click()
    download = info.value
    assert download.suggested_filename == f"kvitto-{SLUG}-{CONTEST_ID}.json"
    target = tmp_path / "kvitto.json"
    download.save_as(target)
    downloaded = json.loads(target.read_text())
    assert downloaded["ballot_hash"] == shown_hash
    assert "forget_after" not in downloaded  # the server's receipt, exactly
    board = page.get_by_role("link", name="Se att din röst finns på anslagstavlan")
    assert board.get_attribute("href") == f"/api/v1/elections/{SLUG}/board"
    assert bp.console_errors == []  # a CSP violation would show here

    # Coming back to the page after voting shows the receipt, not the form.
    bp.issued_on = datetime.now(UTC).date()
    bp.open()
    assert page.locator("#issued-notice").is_visible()
    assert page.locator("#receipt-hash").inner_text() == shown_hash
    assert page.locator('input[type="checkbox"]').count() == 0


def test_choices_are_sorted_by_code_point_and_escaped_like_python(make_ballot_page):
    # UTF-16 order would put the emoji (D83D) before U+FB01; Python's order is by code point.
    candidates = [
        candidate("\U0001f600", "Emo", "Ji"),
        candidate("\ufb01", "Fi", "Ligatur"),
        candidate('a"b\\c', "Quote", "Backslash"),
        candidate("z", "Zeta", "Zäta"),
    ]
    contest = FakeContest(seats=3, min_selections=1, max_selections=3)
    bp = make_ballot_page(candidates=candidates, contest=contest)
    page = bp.open()
    assert page.locator("legend").inner_text() == "Markera minst 1 och högst 3 namn"
    assert page.locator("#choose-counter").inner_text() == (
        "Du har markerat 0 namn (minst 1, högst 3)."
    )
    choose_and_review(page, ["Emo Ji", "Fi Ligatur", "Quote Backslash"])
    cast(page)
    wait_receipt(page)
    check_stored_ballot(bp, ('a"b\\c', "\ufb01", "\U0001f600"))


def test_keyboard_only(make_ballot_page):
    bp = make_ballot_page()
    page = bp.open()

    def tab_to(selector: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"() => document.activeElement.matches({json.dumps(selector)})"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#candidate-1")
    page.keyboard.press("Space")
    tab_to("#candidate-2")
    page.keyboard.press("Space")
    tab_to('#choose-form button[type="submit"]')
    page.keyboard.press("Enter")
    assert heading_focused(page, "step-review")
    tab_to("#review-cast")
    page.keyboard.press("Enter")
    wait_receipt(page)
    check_stored_ballot(bp, ("10", "9"))


def test_failed_cast_is_resent_after_reload(make_ballot_page):
    bp = make_ballot_page()
    bp.server.cast_failures.append(503)
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    error = page.locator("#cast-error")
    error.locator("p").first.wait_for()
    text = error.inner_text()
    assert "fel 503" in text
    assert "sparad på den här enheten" in text
    assert page.locator("#cast-retry-button").is_visible()
    assert bp.server.ballots == {}
    pending = bp.storage()[PENDING_KEY]
    assert pending["signature"]
    assert set(pending) >= {"ballot", "msg_prefix", "blinded_msg", "inv", "signature"}

    bp.open()  # the member comes back later
    assert page.locator("#step-resume").is_visible()
    assert not page.locator("#step-choose").is_visible()
    assert page.locator("#resume-choices li").all_inner_texts() == ["Anna Andersson", "Bo Berg"]
    page.get_by_role("button", name="Skicka din röst igen").click()
    wait_receipt(page)

    check_stored_ballot(bp, ("10", "9"))
    assert len(bp.server.sign_requests) == 1
    assert len(bp.server.cast_requests) == 2
    assert bp.server.cast_requests[0]["body"] == bp.server.cast_requests[1]["body"]
    assert PENDING_KEY not in bp.storage()


def test_lost_blind_signature_is_requested_again_for_the_same_blinded_message(make_ballot_page):
    bp = make_ballot_page()
    bp.server.sign_failures.append("lost")  # signed and recorded; the answer never arrives
    page = bp.open()
    choose_and_review(page, ["Bo Berg", "Cecilia Čapek"])
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    assert "Kontakten med servern bröts" in page.locator("#cast-error").inner_text()
    assert "signature" not in bp.storage()[PENDING_KEY]

    # The server did sign, but the vote is not in: no "Du har röstat", an offer to resend.
    bp.issued_on = datetime.now(UTC).date()
    bp.open()
    assert not page.locator("#issued-notice").is_visible()
    assert page.locator("#step-resume").is_visible()
    page.get_by_role("button", name="Skicka din röst igen").click()
    wait_receipt(page)
    first, second = (r["body"]["blinded_msg"] for r in bp.server.sign_requests)
    assert first == second
    check_stored_ballot(bp, ("100", "9"))


def test_lost_receipt_is_fetched_again_in_the_same_page(make_ballot_page):
    bp = make_ballot_page()
    bp.server.cast_failures.append("lost")  # stored; the receipt never arrives
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Cecilia Čapek"])
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    page.get_by_role("button", name="Skicka din röst igen").click()
    wait_receipt(page)
    check_stored_ballot(bp, ("10", "100"))
    assert len(bp.server.cast_requests) == 2


def test_nothing_is_signed_when_the_vote_cannot_be_saved(make_ballot_page):
    bp = make_ballot_page()
    bp.context.add_init_script(
        "Storage.prototype.setItem = function () {"
        " throw new DOMException('full', 'QuotaExceededError'); };"
    )
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    assert "kunde inte sparas i webbläsaren" in page.locator("#cast-error").inner_text()
    assert bp.server.sign_requests == []


def test_a_different_signed_ballot_gets_a_clear_refusal(make_ballot_page):
    bp = make_ballot_page()
    bp.server.signed = "c29tZXRoaW5nIGVsc2U"  # another device got the signature first
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    text = page.locator("#cast-error").inner_text()
    assert "Du kan inte rösta igen" in text
    assert "Serverns besked: Redan signerad." in text
    assert not page.locator("#cast-retry-button").is_visible()
    assert PENDING_KEY not in bp.storage()


def test_issued_signature_without_a_local_vote_shows_no_form(make_ballot_page):
    bp = make_ballot_page(issued_on=date(2026, 3, 2))
    page = bp.open()
    notice = page.locator("#issued-notice").inner_text()
    assert "Du har röstat den 2 mars 2026." in notice  # the day only: no time is kept
    assert "Du kan inte rösta igen" in notice
    # No receipt on this device: the page says where it is.
    assert page.locator("#issued-elsewhere").is_visible()
    assert page.title() == "Du har röstat – Kongressval 2026"
    assert page.locator('input[type="checkbox"]').count() == 0
    assert page.locator(".ballot-step:visible").count() == 0
    assert bp.console_errors == []


def test_closed_voting_shows_the_window_and_no_form(make_ballot_page):
    closed = FakeElection(
        voting_opens=datetime(2026, 3, 1, 7, 0, tzinfo=UTC),
        voting_closes=datetime(2026, 3, 14, 19, 0, tzinfo=UTC),
    )
    bp = make_ballot_page(election=closed, voting_open=False)
    page = bp.open()
    text = page.locator("#closed-notice").inner_text()
    assert "Röstningen är stängd" in text
    assert "2026-03-01 08:00" in text
    assert "2026-03-14 20:00" in text
    assert page.locator('input[type="checkbox"]').count() == 0

    later = FakeElection(
        voting_opens=datetime.now(UTC) + timedelta(days=2),
        voting_closes=datetime.now(UTC) + timedelta(days=3),
    )
    bp.election = later
    bp.open()
    assert "Röstningen har inte öppnat än" in page.locator("#closed-notice").inner_text()


def test_unsent_vote_after_the_close_is_explained(make_ballot_page):
    bp = make_ballot_page()
    bp.server.sign_failures.append("abort")
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    bp.voting_open = False
    bp.open()
    assert page.locator("#step-resume").is_visible()
    assert page.locator("#resume-closed").is_visible()
    assert not page.get_by_role("button", name="Skicka din röst igen").is_visible()


def test_without_javascript_the_page_explains_why(make_ballot_page):
    bp = make_ballot_page()
    bp.context = bp.context.browser.new_context(java_script_enabled=False, locale="sv-SE")
    try:
        page = bp.open()
        assert page.get_by_role("heading", name="Röstningen kräver JavaScript").is_visible()
        assert not page.locator("#choose-form").is_visible()
    finally:
        bp.context.close()


def test_fits_a_320_pixel_screen(make_ballot_page):
    long_link = "https://example.org/" + "mycket-lang-adress-" * 8
    candidates = [
        candidate("1", "Maximiliana", "Långnamnsdotter-Efternamnsson", links=[long_link]),
        candidate("2", "Bo", "Berg", presentation="Ett_ord_utan_mellanslag_" * 6),
    ]
    bp = make_ballot_page(
        candidates=candidates, contest=FakeContest(seats=1, min_selections=1, max_selections=1)
    )
    page = bp.context.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    bp.page = page
    page.route(f"{ORIGIN}/**", bp._route)
    page.goto(f"{ORIGIN}/rosta")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 320
    choose_and_review(page, ["Bo Berg"])
    cast(page)
    wait_receipt(page)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320


def test_a_second_tab_does_not_overwrite_an_unsent_vote(make_ballot_page):
    bp = make_ballot_page()
    bp.server.sign_failures.append("abort")
    first = bp.open()
    second = bp.context.new_page()
    second.route(f"{ORIGIN}/**", bp._route)
    second.goto(f"{ORIGIN}/rosta")  # opened before the first tab saved anything

    choose_and_review(first, ["Anna Andersson", "Bo Berg"])
    cast(first)
    first.locator("#cast-error p").first.wait_for()
    saved = bp.storage()[PENDING_KEY]

    choose_and_review(second, ["Bo Berg", "Cecilia Čapek"])
    cast(second)
    second.locator("#cast-error p").first.wait_for()
    assert "Ladda om sidan" in second.locator("#cast-error").inner_text()
    assert not second.locator("#cast-retry-button").is_visible()
    assert bp.storage()[PENDING_KEY] == saved
    assert len(bp.server.sign_requests) == 1


def test_manifest_failure_saves_nothing_and_the_retry_starts_afresh(make_ballot_page):
    bp = make_ballot_page()
    bp.server.manifest_failures.append(503)
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    text = page.locator("#cast-error").inner_text()
    assert "fel 503" in text
    assert "sparad" not in text  # nothing was saved, so the page must not claim it was
    assert PENDING_KEY not in bp.storage()
    assert bp.server.sign_requests == []
    page.get_by_role("button", name="Skicka din röst igen").click()
    wait_receipt(page)
    check_stored_ballot(bp, ("10", "9"))


def test_expired_session_says_to_open_the_link_again(make_ballot_page):
    bp = make_ballot_page()
    bp.server.sign_failures.append(401)
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    text = page.locator("#cast-error").inner_text()
    assert "Öppna röstlänken från mejlet igen" in text
    assert "sparad på den här enheten" in text
    bp.open()  # after opening the link again, the same vote is resent
    page.get_by_role("button", name="Skicka din röst igen").click()
    wait_receipt(page)
    check_stored_ballot(bp, ("10", "9"))


def test_members_sharing_a_browser_never_see_each_others_vote(make_ballot_page):
    anna = make_ballot_page(storage_id="member-a")
    anna.server.cast_failures.append(503)
    page = anna.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    assert PENDING_KEY in anna.storage()  # Anna's signed, unsent vote stays on the device

    # Bo opens his own link in the same browser (same localStorage): his own blank ballot.
    bo = make_ballot_page(storage_id="member-b")
    bo_page = bo.open()
    assert bo_page.locator("#step-choose").is_visible()
    assert not bo_page.locator("#step-resume").is_visible()
    assert "Anna Andersson" not in bo_page.locator("#resume-choices").inner_text()
    assert bo.storage()[PENDING_KEY]["signature"]  # Anna's vote is still there for her
