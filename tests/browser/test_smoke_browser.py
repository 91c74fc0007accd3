"""The front page renders in a real Chromium with the security headers in place."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_front_page_in_chromium(browser, live_server):
    page = browser.new_page()
    response = page.goto(live_server.url + "/")
    assert response is not None
    assert response.status == 200
    assert page.locator("h1").inner_text() == "Val av kongressombud"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
