"""Which characters entered text may hold: one rule for the forms and the register import."""

from __future__ import annotations

import re

# Why refuse bidi controls: U+202E and its kin reorder the text after them, so a name or a
# link could show on the candidate list, in a mail or on the committee's page as something
# else than it is ("Trojan Source", CVE-2021-42574). The explicit embeddings, overrides and
# isolates are refused everywhere; the implicit marks (ALM, LRM, RLM) only in one-line fields.
BIDI_REORDERING = "\u202a-\u202e\u2066-\u2069"
BIDI_MARKS = "\u061c\u200e\u200f"

# One-line text (names, titles, links, register cells): no control character at all (C0,
# DEL, C1: NUL breaks PostgreSQL, CR and LF split mail headers and CSV lines), no line or
# paragraph separator, no bidi control, no lone surrogate (not UTF-8 encodable).
_NOT_IN_LINE = re.compile(
    f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI_REORDERING}{BIDI_MARKS}\ud800-\udfff]"
)
# Free text (a presentation, a motivation): line breaks and tabs are fine, and so are the
# implicit bidi marks that right-to-left prose needs.
_NOT_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{BIDI_REORDERING}\ud800-\udfff]")


def forbidden_in_line(text: str) -> str | None:
    """The first character a one-line field may not hold, or None."""
    found = _NOT_IN_LINE.search(text)
    return found.group() if found else None


def forbidden_in_text(text: str) -> str | None:
    """The first character a multi-line free text may not hold, or None."""
    found = _NOT_IN_TEXT.search(text)
    return found.group() if found else None


def codepoint(char: str) -> str:
    """``U+202E``: how a refused character is named in a message (it cannot be shown)."""
    return f"U+{ord(char):04X}"
