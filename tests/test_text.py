"""voting/text.py: which characters a name or a free text may hold."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from voting.text import codepoint, forbidden_in_line, forbidden_in_text

BIDI = [*"\u061c\u200e\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
REORDERING = [c for c in BIDI if c not in "\u061c\u200e\u200f"]


def _ok_in_line(char: str) -> bool:
    return unicodedata.category(char) not in ("Cc", "Zl", "Zp", "Cs") and char not in BIDI


@given(st.text())
def test_a_line_is_refused_exactly_for_controls_separators_and_bidi(text):
    bad = forbidden_in_line(text)
    if all(_ok_in_line(c) for c in text):
        assert bad is None
    else:
        assert bad == next(c for c in text if not _ok_in_line(c))


@given(st.text(), st.sampled_from(BIDI + [chr(c) for c in range(0x20)] + ["\x7f", "\x9f"]))
def test_any_such_character_anywhere_is_found(text, char):
    for at in (0, len(text) // 2, len(text)):
        assert forbidden_in_line(text[:at] + char + text[at:]) is not None


@given(st.text())
def test_free_text_keeps_line_breaks_tabs_and_bidi_marks(text):
    bad = forbidden_in_text(text)
    allowed = set("\t\n\r\u061c\u200e\u200f\u2028\u2029")
    offending = [
        c
        for c in text
        if c not in allowed and (unicodedata.category(c) in ("Cc", "Cs") or c in REORDERING)
    ]
    assert bad == (offending[0] if offending else None)


def test_names_that_must_stay_possible():
    for name in ["Åsa-Lisa O'Brien", "محمد العلي", "می\u200cخواهم", "👩\u200d🔬", "Zoë Ñúñez"]:
        assert forbidden_in_line(name) is None, name


def test_codepoint():
    assert codepoint("\u202e") == "U+202E"
    assert codepoint("\x00") == "U+0000"
    assert codepoint("\U0001f600") == "U+1F600"
