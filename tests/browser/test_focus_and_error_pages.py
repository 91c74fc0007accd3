"""In Chromium: the 404 page has the site's landmarks and a way back, and a link focused from the
keyboard shows exactly the focus colours that tests/test_focus_style.py checks for contrast."""

from __future__ import annotations

import pytest

from tests.test_focus_style import HALO, OUTLINE

pytestmark = pytest.mark.browser


def _rgb(colour: tuple[int, int, int]) -> str:
    return "rgb({}, {}, {})".format(*colour)


def test_the_404_page_and_the_keyboard_focus(browser, live_server):
    page = browser.new_page()
    response = page.goto(live_server.url + "/val/finns-inte/resultat")
    assert response is not None
    assert response.status == 404
    assert page.locator("html").get_attribute("lang") == "sv"
    assert page.get_by_role("main").count() == 1
    assert page.get_by_role("heading", level=1).inner_text() == "Sidan finns inte"
    back = page.get_by_role("main").get_by_role("link", name="Till startsidan")
    assert back.get_attribute("href") == "/"

    focused = []
    for _ in range(4):  # skip link, site name, language, the way back
        page.keyboard.press("Tab")
        focused.append(
            page.evaluate(
                """() => {
                    const el = document.activeElement, s = getComputedStyle(el);
                    return {text: el.textContent.trim(), outline: s.outlineColor,
                            style: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow};
                }"""
            )
        )
    assert focused[-1]["text"] == "Till startsidan"
    for element in focused:
        assert element["outline"] == _rgb(OUTLINE), element
        assert element["style"] == "solid", element
        assert element["width"] == "3px", element
        assert _rgb(HALO) in element["shadow"], element

    back.click()
    assert page.locator("h1").inner_text() == "Val av kongressombud"
