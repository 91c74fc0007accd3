"""The nomination's format rules, shared by the forms and the services: lengths, the shape
of a personnummer, and what makes a presentation link acceptable. No Flask-WTF here, so that
the services check the same rules without importing the forms."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from voting.text import forbidden_in_line

MOTIVATION_MAX = 1000
PRESENTATION_MAX = 2000
MAX_LINKS = 3
LINK_MAX = 500

# A personnummer as the register parser accepts it: 10 or 12 digits, maybe "-" or "+".
PNR_SHAPE = re.compile(r"(\d{6}|\d{8})[-+]?\d{4}")


def looks_like_personnummer(text: str) -> bool:
    """True when ``text`` is written like a personnummer (it may still be invalid)."""
    return bool(PNR_SHAPE.fullmatch(text.strip()))


# A bare host name at the start of a link, as people type them ("www.example.se/om-mig").
_BARE_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}(?::\d{1,5})?(?:[/?#]|$)", re.I
)


def complete_link(value: Any) -> Any:
    """``https://`` in front of a link typed without a scheme (``www.example.se``), else as is.

    Only a value that starts with a host name is completed, so ``javascript:``, ``mailto:``
    and addresses with another scheme stay as typed, and are refused by ``link_problem``.
    """
    if isinstance(value, str) and value and _BARE_HOST.match(value):
        return f"https://{value}"
    return value


def link_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable presentation link, as a code of
    ``voting.nominations.errors.MESSAGES``, or None if it is."""
    if len(value) > LINK_MAX or re.search(r"\s", value):
        return "link_too_long"
    # Why: a bidi control would make the link on the public list read as another address.
    if forbidden_in_line(value):
        return "link_invalid"
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return "link_invalid"
    # Why only http(s): a javascript: or data: link on the public list would run in visitors'
    # browsers when clicked.
    if parts.scheme.lower() not in {"http", "https"}:
        return "link_scheme"
    if not parts.hostname or not port_ok or parts.username or parts.password:
        return "link_invalid"
    return None
