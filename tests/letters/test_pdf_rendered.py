"""The letters PDF as a print shop and a phone see it: poppler's pdftotext finds the address, and
nothing else, inside the C5 window; a page rendered to pixels carries a QR code that decodes to
the code form with the member's code."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from PIL import Image

from tests.letters.conftest import ADDRESSES, codes_in

MM = 72 / 25.4  # PDF points per millimetre; pdftotext crops in points at its default 72 dpi
# The C5 window as docs/letters.md gives it: 20 mm from the left, 45 mm from the top, 90 × 45 mm.
WINDOW = (20, 45, 90, 45)


@pytest.fixture(scope="module")
def poppler() -> None:
    missing = [tool for tool in ("pdftotext", "pdftoppm") if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} missing (Debian's poppler-utils; scripts/test installs it)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, name
    return path


def _text(pdf_path, *args: str) -> str:
    result = subprocess.run(
        [_tool("pdftotext"), "-layout", *args, str(pdf_path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def test_pdftotext_finds_the_address_and_only_it_in_the_window(letters, poppler, tmp_path):
    pdf = tmp_path / "brev.pdf"
    pdf.write_bytes(letters.pdf)
    x, y, w, h = (round(v * MM) for v in WINDOW)
    for page in (1, 2):
        whole = _text(pdf, "-f", str(page), "-l", str(page))
        name, member = ("David Ek", "S4") if "David Ek" in whole else ("Filip Gran", "B2")
        window = _text(
            pdf,
            "-f",
            str(page),
            "-l",
            str(page),
            "-x",
            str(x),
            "-y",
            str(y),
            "-W",
            str(w),
            "-H",
            str(h),
        )
        lines = [line.strip() for line in window.splitlines() if line.strip()]
        address = ADDRESSES[member]
        expected = [name, *([address["co"]] if address["co"] else []), address["street"]]
        assert lines[: len(expected)] == expected, lines
        assert address["city"].upper() in lines[-1]
        assert len(lines) == len(expected) + 1, lines  # nothing but the address in the window
        assert "Din personliga röstkod" in whole
        assert "Din personliga röstkod" not in window


def test_a_rendered_page_has_a_qr_code_that_a_reader_decodes(letters, poppler, tmp_path):
    zxingcpp = pytest.importorskip("zxingcpp")
    pdf = tmp_path / "brev.pdf"
    pdf.write_bytes(letters.pdf)
    subprocess.run(
        [_tool("pdftoppm"), "-r", "150", "-png", str(pdf), str(tmp_path / "sida")],
        check=True,
        timeout=120,
    )
    pages = sorted(tmp_path.glob("sida-*.png"))
    assert len(pages) == 2
    for path, code in zip(pages, codes_in(letters.pdf), strict=True):
        with Image.open(path) as image:
            decoded = zxingcpp.read_barcodes(image.convert("L"))
            assert [d.text for d in decoded] == [f"http://localhost/rosta/kod#{code}"]
            # Ink in the window: the address is printed where the envelope shows it.
            px = 150 / 25.4
            x, y, w, h = WINDOW
            window = image.convert("L").crop(
                (round(x * px), round(y * px), round((x + w) * px), round((y + h) * px))
            )
            darkest, _lightest = window.getextrema()
            assert darkest < 100
