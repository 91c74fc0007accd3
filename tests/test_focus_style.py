"""The keyboard focus indicator has at least 3:1 contrast on every background the site uses
(WCAG 2.1 SC 1.4.11). The colours are read from style.css, so a bad change fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parent.parent / "voting" / "static" / "style.css"
FOCUSABLE = ("a", "button", "input", "select", "textarea", "[tabindex]")


def _hex(value: str) -> tuple[int, int, int]:
    digits = value.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    assert len(digits) == 6, value
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.x relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2.x contrast ratio, from 1 to 21."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """(selector, {property: value}) for every rule, @media blocks flattened."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        selector = re.sub(r"^.*\{", "", selector).strip()  # drop an "@media (…) {" prefix
        declarations = {}
        for declaration in body.split(";"):
            name, colon, value = declaration.partition(":")
            if colon:
                declarations[name.strip()] = value.strip()
        rules.append((" ".join(selector.split()), declarations))
    return rules


RULES = _rules(CSS.read_text(encoding="utf-8"))
VARIABLES = {
    name: value for selector, decl in RULES if selector == ":root" for name, value in decl.items()
}


def _colours(value: str) -> list[tuple[int, int, int]]:
    """The colours named in a declaration's value, custom properties resolved."""
    value = re.sub(r"var\((--[\w-]+)\)", lambda m: VARIABLES[m[1]], value)
    return [_hex(h) for h in re.findall(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", value)]


def _name(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{v:02x}" for v in rgb)


def _focus_rule() -> dict[str, str]:
    for selector, declarations in RULES:
        parts = {part.strip() for part in selector.split(",")}
        if {f"{name}:focus-visible" for name in FOCUSABLE} <= parts:
            return declarations
    raise AssertionError("no :focus-visible rule for every focusable element in style.css")


FOCUS = _focus_rule()
[OUTLINE] = _colours(FOCUS["outline"])
[HALO] = _colours(FOCUS["box-shadow"])
# Every background the stylesheet paints: the page, the header, cards, notices, table heads
# (where links and buttons sit) and the fills of buttons themselves.
BACKGROUNDS = sorted(
    {
        colour
        for _selector, declarations in RULES
        for name in ("background", "background-color")
        if name in declarations
        for colour in _colours(declarations[name])
    }
)
# Where focusable elements stand: the outline, 2px outside the element, is drawn on these.
PAGE_BACKGROUNDS = [_hex(VARIABLES["--bg"]), _hex(VARIABLES["--panel"])]


def test_the_focus_rule_draws_a_thick_outline_outside_the_element():
    width, style, _colour = FOCUS["outline"].split()
    assert float(width.removesuffix("px")) >= 2
    assert style == "solid"
    assert FOCUS["outline-offset"] != "0"
    assert "none" not in FOCUS["box-shadow"]


def test_the_two_focus_colours_differ_by_at_least_9_to_1():
    # WCAG technique C40: then on any background at least one of them reaches 3:1.
    assert contrast(OUTLINE, HALO) >= 9


def test_the_stylesheet_paints_the_backgrounds_this_test_expects():
    # A guard on the parser: the page, the panels and the button colours are all found.
    expected = {_hex(VARIABLES[n]) for n in ("--bg", "--panel", "--accent", "--error")}
    assert expected <= set(BACKGROUNDS)


@pytest.mark.parametrize("background", BACKGROUNDS, ids=_name)
def test_the_focus_indicator_stands_out_on_every_background(background):
    best = max(contrast(OUTLINE, background), contrast(HALO, background))
    assert best >= 3, f"focus colours {OUTLINE} / {HALO} on {background}: {best:.2f}:1"


@pytest.mark.parametrize("background", PAGE_BACKGROUNDS, ids=_name)
def test_the_outline_alone_stands_out_on_the_page(background):
    assert contrast(OUTLINE, background) >= 3


def test_other_focus_rules_use_the_same_colours():
    for selector, declarations in RULES:
        if ":focus" in selector and "outline" in declarations:
            if declarations["outline"] in ("none", "0"):
                assert selector == "main:focus", selector  # the skip link's target only
                continue
            assert _colours(declarations["outline"]) == [OUTLINE], selector
            assert _colours(declarations.get("box-shadow", "")) == [HALO], selector


@pytest.mark.parametrize(
    ("a", "b", "ratio"),
    [("#ffffff", "#000000", 21.0), ("#ffbf47", "#ffffff", 1.64), ("#767676", "#ffffff", 4.54)],
)
def test_the_contrast_formula(a, b, ratio):
    assert contrast(_hex(a), _hex(b)) == pytest.approx(ratio, abs=0.01)
