"""The letters PDF: one page per letter member, the address in the envelope's window, the text
a member needs, and a QR code that a phone reads as the code form with the code."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pypdf import PdfReader

from tests.letters.conftest import ADDRESSES, codes_in, pdf_text
from voting.ballot.codes import member_code
from voting.db import db
from voting.elections.services import get_election
from voting.letters import pdf as letters_pdf

MM = 72 / 25.4  # PDF points per millimetre
A4_HEIGHT = 297


def _positions(page) -> dict[str, tuple[float, float]]:
    """Each text line's start, in millimetres from the sheet's left and top edges."""
    found: dict[str, tuple[float, float]] = {}

    def visit(text, _cm, tm, _font, _size):
        line = text.strip()
        if line and line not in found:
            found[line] = (tm[4] / MM, A4_HEIGHT - tm[5] / MM)

    page.extract_text(visitor_text=visit)
    return found


def test_one_page_per_letter_with_what_the_member_needs(letters):
    pages = [" ".join(text.split()) for text in pdf_text(letters.pdf)]
    assert len(pages) == 2
    by_name = {("David Ek" in text and "S4") or "B2": text for text in pages}
    s4 = by_name["S4"]
    assert "Du kan rösta i Kongressombudsval 2027" in s4
    assert "Södermalm" in s4
    # The election file's times are Swedish: the letter says so rather than naming a zone.
    assert "från 2027-01-12 kl. 00.00 (svensk tid) till och med 2027-01-25 kl. 23.59" in s4
    assert "http://localhost/rosta/kod" in s4
    assert "Din personliga röstkod" in s4
    assert "Din väljarkod" in s4
    assert "http://localhost/val/val-2027/kontrollera" in s4
    assert "Valberedningen i Distrikt Test" in s4
    assert "val@example.org" in s4
    assert "Bromma" in by_name["B2"]
    # Each page has its own code, and the member's voter code from the roll.
    printed = codes_in(letters.pdf)
    assert len(set(printed)) == 2
    election = get_election(db.session, letters.slug)
    for member, text in by_name.items():
        assert f"Din väljarkod {member_code(db.session, election, member)} " in text


def test_the_address_sits_in_the_c5_window(letters):
    reader = PdfReader(io.BytesIO(letters.pdf))
    for page in reader.pages:
        where = _positions(page)
        name = "David Ek" if "David Ek" in where else "Filip Gran"
        member = "S4" if name == "David Ek" else "B2"
        address = ADDRESSES[member]
        lines = [name, address["street"]]
        lines.append(
            f"{address['postcode'][:3]} {address['postcode'][-2:]}  {address['city'].upper()}"
        )
        if address["co"]:
            lines.append(address["co"])  # "c/o Berg", not "c/o c/o Berg"
        for line in lines:
            assert line in where, (line, sorted(where))
            x, y = where[line]
            # Inside the window (20 mm from the left, 45 mm from the top, 90 × 45 mm), with
            # the margin the module keeps (5 mm on every side).
            assert 24 <= x <= 26, (line, x)
            assert 50 <= y <= 86, (line, y)
        # Nothing else is printed in the window, and everything fits on the sheet.
        for text, (x, y) in where.items():
            if text not in lines:
                assert not (20 <= x <= 110 and 45 <= y <= 90), (text, x, y)
            assert 15 <= x <= 195, (text, x)
            assert 10 <= y <= 285, (text, y)


def test_the_qr_code_is_the_code_form_with_the_code_in_the_fragment(letters):
    zxingcpp = pytest.importorskip("zxingcpp")
    reader = PdfReader(io.BytesIO(letters.pdf))
    printed = codes_in(letters.pdf)
    for page, code in zip(reader.pages, printed, strict=True):
        [image] = page.images
        decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)))
        assert [d.text for d in decoded] == [f"http://localhost/rosta/kod#{code}"]


def test_the_window_numbers_are_the_documented_ones():
    from voting.db import ROOT

    assert letters_pdf.ADDRESS_BOX == (25.0, 50.0, 80.0, 35.0)
    doc = " ".join((ROOT / "docs" / "letters.md").read_text().split())
    assert "20 mm from the left edge and 45 mm from the top of the sheet, 90 × 45 mm" in doc
    assert "(x 25–105 mm, y 50–85 mm)" in doc


def test_an_eid_letter_has_no_code_and_says_how_to_sign_in(letters):
    election = get_election(db.session, letters.slug)
    context = letters_pdf.LetterContext(election, "https://val.example.se", {"name": None})
    letter = letters_pdf.Letter("Eva Falk", ADDRESSES["S4"], "Bromma", None, "K7QF-3MXR-9T")
    pdf = letters_pdf.render([letter], context)
    [text] = [" ".join(t.split()) for t in pdf_text(pdf)]
    assert "logga in med e-legitimation" in text
    assert "https://val.example.se/val/val-2027/rosta" in text
    assert "röstkod" not in text.lower().replace("väljarkod", "")
    assert "Kontakta Valberedningen." in text  # no contact set: the plain name
    assert len(PdfReader(io.BytesIO(pdf)).pages[0].images) == 0
