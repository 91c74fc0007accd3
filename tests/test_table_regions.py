"""Every table that may scroll sideways on a phone sits in a scroll region a keyboard can reach
and a screen reader can name (axe: scrollable-region-focusable; issue 14, item 13). The browser
test tests/browser/test_axe_all_pages.py runs axe itself; this checks every template at once,
also the pages that test does not reach."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[1] / "voting" / "templates"
# The committee's, the auditors' and the results pages; the ballot, the board and the demo's
# own pages are checked by the browser test only.
FOLDERS = ("admin", "audit", "members", "public")
SKIP = {"public/board.html"}
WRAP = re.compile(r"<div\b[^>]*\bclass=\"[^\"]*\btable-wrap\b[^\"]*\"[^>]*>")


def _templates() -> list[Path]:
    found = [p for folder in FOLDERS for p in sorted((TEMPLATES / folder).glob("*.html"))]
    return [p for p in found if str(p.relative_to(TEMPLATES)) not in SKIP]


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_table_scroll_region_is_focusable_and_named(path):
    text = path.read_text(encoding="utf-8")
    assert text.count("<table") == len(WRAP.findall(text)), "a <table> outside a .table-wrap"
    for wrap in WRAP.findall(text):
        assert 'tabindex="0"' in wrap, wrap
        assert 'role="region"' in wrap, wrap
        label = re.search(r'aria-labelledby="([^"]+)"', wrap)
        assert label or "aria-label=" in wrap, wrap
        # Split on spaces outside {{ … }}: "krets-{{ k.contest }} all-{{ k.contest }}".
        refs = re.findall(r"(?:[^\s{]|\{\{[^}]*\}\})+", label.group(1)) if label else []
        for ref in refs:
            # The id it names is in the same template (possibly built from a variable).
            stem = ref.split("{{")[0]
            assert f'id="{stem}' in text, f"{ref} is not an id in {path.name}"
