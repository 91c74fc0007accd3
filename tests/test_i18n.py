"""The English catalog is complete, current, compiled and keeps every placeholder; the site
switches language with ``?lang=`` and remembers the choice.

The catalog checks read files only (no database); the page checks run on every backend.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import flask_babel
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from voting.db import db
from voting.elections.services import create_election

ROOT = Path(__file__).resolve().parent.parent
PO_PATH = ROOT / "voting" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
MO_PATH = PO_PATH.with_suffix(".mo")

# The same keywords as scripts/update_translations passes to `pybabel extract`.
EXTRACT_KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None, "_n": (1, 2)}

PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|\{[A-Za-z_]\w*\}")


def _percent_signs(text: str) -> int:
    """The % signs outside placeholders ("%%" in Jinja, where gettext always %-formats)."""
    return PLACEHOLDER.sub("", text).count("%")


def _key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple | list) else message.id


def _forms(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return list(value) if isinstance(value, tuple | list) else [value]


def _load_po() -> Catalog:
    with PO_PATH.open("rb") as f:
        return read_po(f)


def _messages(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


def _mapping_cfg() -> tuple[list, dict]:
    from babel.messages import frontend

    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        return parse(f)


def _extracted() -> dict[tuple[str, str | None], tuple[str, ...]]:
    """Every msgid in the sources, as ``pybabel extract -F babel.cfg`` finds them."""
    method_map, options_map = _mapping_cfg()
    found: dict[tuple[str, str | None], tuple[str, ...]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=EXTRACT_KEYWORDS
    ):
        forms = tuple(message) if isinstance(message, tuple | list) else (message,)
        if forms[0]:
            found.setdefault((forms[0], context), (f"{filename}:{lineno}", *forms))
    return found


# --- The catalog ---------------------------------------------------------------------------


def test_catalog_is_complete() -> None:
    """Every message has a translation (every plural form) and none is left fuzzy."""
    messages = _messages(_load_po())
    assert len(messages) > 100, "the English catalog is suspiciously small"
    untranslated = [f"untranslated: {_key(m)!r}" for m in messages if not all(_forms(m.string))]
    fuzzy = [f"fuzzy: {_key(m)!r}" for m in messages if m.fuzzy]
    assert not untranslated + fuzzy, (
        "translate these in voting/translations/en/LC_MESSAGES/messages.po (and remove the fuzzy "
        "flags), then run scripts/update_translations:\n" + "\n".join(untranslated + fuzzy)
    )


def test_catalog_is_current() -> None:
    """Every string marked in the code and templates is in the .po, singular or plural alike."""
    catalog = _load_po()
    extracted = _extracted()
    assert len(extracted) > 100, "extraction found almost nothing; is babel.cfg right?"
    missing = []
    for (msgid, context), (where, *forms) in sorted(extracted.items()):
        entry = catalog.get(msgid, context)
        if entry is None:
            missing.append(f"{where}: {msgid!r}")
        elif entry.pluralizable != (len(forms) > 1):
            missing.append(f"{where}: {msgid!r} (plural form differs; re-run the script)")
    assert not missing, (
        "strings missing from voting/translations/en/LC_MESSAGES/messages.po; run "
        "scripts/update_translations and translate them:\n" + "\n".join(missing)
    )


def test_compiled_catalog_matches_po() -> None:
    """The committed messages.mo says exactly what messages.po says."""
    catalog = _load_po()
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    expected = {(_key(m), m.context): m.string for m in _messages(read_mo(buffer))}
    with MO_PATH.open("rb") as f:
        committed = {(_key(m), m.context): m.string for m in _messages(read_mo(f))}
    assert committed == expected, "messages.mo is stale; run scripts/update_translations"
    assert committed, "messages.mo is empty"


def test_placeholders_are_preserved() -> None:
    """Each translation has the same %(x)s and {x} placeholders as its Swedish original."""
    problems = []
    for message in _messages(_load_po()):
        wanted = set().union(*(PLACEHOLDER.findall(s) for s in _forms(message.id)))
        for text in _forms(message.string):
            got = set(PLACEHOLDER.findall(text))
            if text and got != wanted:
                problems.append(f"{_key(message)!r}: has {sorted(got)}, wants {sorted(wanted)}")
            if text and _percent_signs(text) != _percent_signs(_forms(message.id)[0]):
                problems.append(f"{_key(message)!r}: its % signs differ from the original")
    problems += [f"{_key(m)!r}: {err}" for m, errors in _load_po().check() for err in errors]
    assert not problems, "\n".join(problems)


# --- The pages -----------------------------------------------------------------------------


def _page(client, url: str, **kwargs) -> tuple[int, str]:
    """One request as a server sees it: with no locale left over from the previous one.

    Why refresh: the ``app`` fixture keeps one app context (and so one ``g``) pushed for the
    whole test, and Flask-Babel caches the locale on ``g``; a real server starts each request
    with a fresh one, so only the session can carry the choice over.
    """
    flask_babel.refresh()
    response = client.open(url, **kwargs)
    return response.status_code, response.get_data(as_text=True)


HEADING_SV = "Val av kongressombud"
HEADING_EN = "Election of congress delegates"


def test_front_page_is_swedish_by_default(client) -> None:
    status, body = _page(client, "/")
    assert status == 200
    assert HEADING_SV in body
    assert HEADING_EN not in body
    assert '<html lang="sv">' in body


def test_language_choice_sticks_for_the_session(client) -> None:
    _status, english = _page(client, "/?lang=en")
    assert HEADING_EN in english
    assert HEADING_SV not in english
    assert '<html lang="en">' in english
    with client.session_transaction() as session:
        assert session["lang"] == "en"

    # No ?lang= this time: the session remembers English.
    assert HEADING_EN in _page(client, "/")[1]
    # An unknown language changes nothing.
    assert HEADING_EN in _page(client, "/?lang=xx")[1]

    assert HEADING_SV in _page(client, "/?lang=sv")[1]
    assert HEADING_SV in _page(client, "/")[1]


ELECTION_TOML = """
slug = "i18n-2027"
title = "Prov 2027"
timezone = "Europe/Stockholm"
[schedule]
nomination_opens = "2026-10-01T00:00"
nomination_closes = "2026-11-30T23:59:59"
voting_opens = "2027-01-12T00:00"
voting_closes = "2027-01-25T23:59:59"
[[krets]]
code = "SODERMALM"
name = "Södermalm"
seats = 3
"""
DURING_NOMINATION = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)

# Swedish label -> its English translation, as the nomination form shows them.
FORM_LABELS = {
    "Din e-postadress": "Your email address",
    "Den nominerades förnamn": "Nominee's first name",
    "Den nominerades efternamn": "Nominee's last name",
    "Motivering (frivillig)": "Reason for the nomination (optional)",
    "Skicka nomineringen": "Send the nomination",
}


@pytest.fixture
def election(app, clock) -> str:
    clock.set(DURING_NOMINATION)
    with db.transaction() as session:
        slug = create_election(session, ELECTION_TOML, DURING_NOMINATION, by="cli").slug
    db.session.close()
    return slug


def test_nomination_form_in_english(client, election) -> None:
    status, body = _page(client, f"/val/{election}/nominera?lang=en")
    assert status == 200
    text = html.unescape(body)
    for swedish, english in FORM_LABELS.items():
        assert swedish not in text, f"Swedish label left on the English page: {swedish!r}"
        assert english in text, f"English label missing: {english!r}"

    # Nor any other Swedish UI text that has an English translation of its own.
    leftovers = [
        _key(m)
        for m in _messages(_load_po())
        if len(_key(m)) >= 8 and _forms(m.string)[0] != _key(m) and _key(m) in text
    ]
    assert not leftovers, f"Swedish text on the English form: {leftovers}"


def test_nomination_form_errors_in_english(client, election) -> None:
    """The validators' lazy messages follow the session's language too."""
    _page(client, "/?lang=en")
    status, body = _page(client, f"/val/{election}/nominera", method="POST", data={})
    assert status == 400
    body = html.unescape(body)
    assert "Enter your email address." in body
    assert "Enter the nominee's first name." in body
    assert "Ange din e-postadress." not in body
