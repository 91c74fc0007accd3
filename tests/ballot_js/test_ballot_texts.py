"""The ballot page as a member reads it (issue 14): the title through the steps, the count in view
on a phone, no blank vote, the receipt as the page's message, and a receipt that can be forgotten
and is forgotten some days after the close."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.ballot_js.conftest import (
    CONTEST_ID,
    ORIGIN,
    SLUG,
    FakeElection,
    candidate,
)
from tests.ballot_js.test_ballot_page import (
    PENDING_KEY,
    RECEIPT_KEY,
    cast,
    choose_and_review,
    wait_receipt,
)

pytestmark = pytest.mark.browser

LOOKUP_KEY = "kongressval.v1.lookup"


def test_the_title_follows_the_four_steps(make_ballot_page):
    bp = make_ballot_page()
    bp.server.sign_failures.append(503)
    page = bp.open()
    assert page.title() == "Steg 1 av 4: Välj kandidater – Kongressval 2026"
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    assert page.title() == "Steg 2 av 4: Granska ditt val – Kongressval 2026"
    cast(page)
    page.locator("#cast-error p").first.wait_for()
    assert page.title() == "Steg 3 av 4: Rösten skickas – Kongressval 2026"
    page.get_by_role("button", name="Skicka din röst igen").click()
    wait_receipt(page)
    assert page.title() == "Din röst är registrerad – Kongressval 2026"
    assert page.get_by_role("heading", level=1).inner_text() == "Din röst är registrerad"
    assert page.locator("#step-receipt-heading").inner_text() == "Steg 4 av 4: Ditt kvitto"


def test_the_receipt_speaks_plainly(make_ballot_page):
    bp = make_ballot_page()
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    wait_receipt(page)
    text = page.locator("#step-receipt").inner_text()
    for word in ("hash", "kontrollsumma", "ballot_hash"):
        assert word not in text.lower()
    assert "Din kvittokod:" in text
    assert "den offentliga listan över alla röstsedlar" in text  # what the board is, said once
    kept = (bp.election.voting_closes + timedelta(days=14)).astimezone(
        bp.election.local(bp.election.voting_closes).tzinfo
    )
    months = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti"]
    months += ["september", "oktober", "november", "december"]
    assert f"till och med {kept.day} {months[kept.month - 1]} {kept.year}" in text


def test_no_blank_vote_is_offered_and_the_ballot_says_so(make_ballot_page):
    bp = make_ballot_page()
    page = bp.open()
    note = page.locator("#choose-no-blank")
    assert note.is_visible()
    assert note.inner_text().startswith("Det går inte att rösta blankt")
    assert "choose-no-blank" in (page.locator("fieldset").get_attribute("aria-describedby") or "")
    page.get_by_role("button", name="Granska ditt val").click()  # nothing marked
    assert page.locator("#choose-error").inner_text() == "Markera exakt 2 namn. Du har markerat 0."
    assert not page.locator("#step-review").is_visible()
    assert bp.server.sign_requests == []


def test_the_count_and_its_error_stay_in_view_on_a_phone(make_ballot_page):
    long_text = "Jag vill arbeta för en bättre vård och skola i hela kretsen. " * 12
    candidates = [
        candidate(str(n), f"Kandidat{n}", f"Efternamn{n}", presentation=long_text)
        for n in range(1, 31)
    ]
    bp = make_ballot_page(candidates=candidates)
    page = bp.context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    bp.page = page
    page.route(f"{ORIGIN}/**", bp._route)
    page.goto(f"{ORIGIN}/rosta")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    assert height > 4 * 844  # a long list: the summary's natural place is far below

    def in_view(selector: str) -> bool:
        box = page.locator(selector).bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844

    assert in_view("#choose-counter")
    assert in_view('#choose-summary button[type="submit"]')
    box = page.get_by_label("Kandidat15 Efternamn15", exact=True)
    box.scroll_into_view_if_needed()
    box.check()
    assert page.locator("#choose-counter").inner_text() == "Du har markerat 1 av 2 namn."
    assert in_view("#choose-counter")
    # The checked box is not hidden under the summary.
    summary_top = page.locator("#choose-summary").bounding_box()["y"]
    check_box = box.bounding_box()
    assert check_box["y"] + check_box["height"] <= summary_top
    page.locator('#choose-summary button[type="submit"]').click()
    assert page.locator("#choose-error").inner_text() == "Markera exakt 2 namn. Du har markerat 1."
    assert in_view("#choose-error")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390


def test_forget_the_receipt_on_this_device(make_ballot_page):
    bp = make_ballot_page()
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    wait_receipt(page)
    assert RECEIPT_KEY in bp.storage()
    page.get_by_role("button", name="Glöm kvittot på den här enheten").click()
    status = page.locator("#receipt-forgotten")
    assert status.get_attribute("role") == "status"
    assert status.inner_text().startswith("Kvittot är borttaget från den här enheten.")
    assert "Din röst är kvar och gäller." in status.inner_text()
    assert RECEIPT_KEY not in bp.storage()
    assert not page.locator("#receipt-hash").is_visible()
    assert page.locator("#receipt-hash").inner_text() == ""

    # Back on the page later: no receipt here, and the page says where it is.
    bp.issued_on = datetime.now(UTC).date()
    bp.open()
    assert not page.locator("#step-receipt").is_visible()
    assert page.locator("#issued-elsewhere").is_visible()


def _store(bp: Any, key: str, value: dict[str, Any]) -> None:
    bp.page.evaluate(
        "([key, value]) => window.localStorage.setItem(key, value)", [key, json.dumps(value)]
    )


def test_a_receipt_is_forgotten_some_days_after_the_close(make_ballot_page):
    long_ago = FakeElection(
        voting_opens=datetime.now(UTC) - timedelta(days=40),
        voting_closes=datetime.now(UTC) - timedelta(days=30),
    )
    bp = make_ballot_page(
        election=long_ago, voting_open=False, issued_on=long_ago.voting_closes.date()
    )
    bp.open()
    receipt = {"ballot_hash": "ab" * 32, "contest": CONTEST_ID, "election": SLUG}
    past = (datetime.now(UTC) - timedelta(days=16)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    other_member = RECEIPT_KEY.replace("member-a", "member-b")
    other_election = RECEIPT_KEY.replace(SLUG, "annat-val")
    _store(bp, other_member, {**receipt, "forget_after": past})
    _store(bp, other_election, {**receipt, "election": "annat-val", "forget_after": future})
    # Saved before receipts had a keeping time: the page's own (the close + 14 days) applies.
    _store(bp, RECEIPT_KEY, receipt)
    page = bp.open()
    storage = bp.storage()
    assert RECEIPT_KEY not in storage
    assert other_member not in storage  # any member's, on any ballot page of the site
    assert other_election in storage  # not yet due
    assert not page.locator("#step-receipt").is_visible()
    assert page.locator("#issued-elsewhere").is_visible()


def test_a_receipt_within_its_time_is_shown_and_kept(make_ballot_page):
    bp = make_ballot_page(issued_on=datetime.now(UTC).date())
    bp.open()
    receipt = {"ballot_hash": "cd" * 32, "contest": CONTEST_ID, "election": SLUG}
    _store(bp, RECEIPT_KEY, {**receipt, "forget_after": "2999-01-01T00:00:00+00:00"})
    page = bp.open()
    assert page.locator("#receipt-hash").inner_text() == "cd" * 32
    assert not page.locator("#issued-elsewhere").is_visible()
    assert RECEIPT_KEY in bp.storage()


def test_the_board_link_hands_the_code_over_outside_the_address(make_ballot_page):
    bp = make_ballot_page()
    page = bp.open()
    choose_and_review(page, ["Anna Andersson", "Bo Berg"])
    cast(page)
    shown = wait_receipt(page)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.route(  # the board page stands in for the real one here (tests/browser has that)
        f"{ORIGIN}/api/v1/elections/{SLUG}/board",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<p>Tavlan</p>"),
    )
    page.get_by_role("link", name="Se att din röst finns på anslagstavlan").click()
    page.wait_for_url(f"{ORIGIN}/api/v1/elections/{SLUG}/board")
    handed = json.loads(page.evaluate(f"() => window.sessionStorage.getItem('{LOOKUP_KEY}')"))
    assert handed == {"election": SLUG, "hash": shown}
    assert urls
    assert all(shown not in url for url in urls)
    assert PENDING_KEY not in bp.storage()
