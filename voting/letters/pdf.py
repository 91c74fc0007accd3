"""The letters PDF: one A4 page per member, the address placed for a C5 window envelope.

The window (SS 674 / SIS position for a left window in a C5 envelope, the A4 sheet folded
twice): 20 mm from the sheet's left edge, 45 mm from its top, 90 × 45 mm. The address is set
inside it with 5 mm to spare on every side (x 25–105 mm, y 50–85 mm), so that the sheet may
shift a few millimetres in the envelope. docs/letters.md has the same numbers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from voting.ballot.codes import check_url
from voting.elections.models import Election

# The window's position on the sheet, in millimetres, and the margin kept inside it.
WINDOW_LEFT, WINDOW_TOP, WINDOW_WIDTH, WINDOW_HEIGHT = 20.0, 45.0, 90.0, 45.0
WINDOW_MARGIN = 5.0
ADDRESS_BOX = (
    WINDOW_LEFT + WINDOW_MARGIN,
    WINDOW_TOP + WINDOW_MARGIN,
    WINDOW_WIDTH - 2 * WINDOW_MARGIN,
    WINDOW_HEIGHT - 2 * WINDOW_MARGIN,
)  # x, y, width, height
QR_SIZE = 32.0  # mm: a phone reads it from arm's length
CODE_PATH = "/rosta/kod"  # the code form (voting/letters/views.py)
SWEDISH_TIMEZONE = "Europe/Stockholm"

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {
    ("Sans", ""): FONT_DIR / "DejaVuSans.ttf",
    ("Sans", "B"): FONT_DIR / "DejaVuSans-Bold.ttf",
    ("Mono", "B"): FONT_DIR / "DejaVuSansMono-Bold.ttf",
}
FALLBACK = {"Sans": "Helvetica", "Mono": "Courier"}


@dataclass(frozen=True)
class Letter:
    """What one member's letter says."""

    name: str
    address: dict[str, str]  # co, street, postcode, city
    krets: str
    code: str | None  # the letter code; None in an eID-only election (no code is a credential)
    voter_code: str | None  # for the check after the close; None on a roll without codes


@dataclass(frozen=True)
class LetterContext:
    """What every letter of an election shares."""

    election: Election
    base_url: str
    contact: dict[str, Any]  # name, email, phone (voting.public.legal_views.committee_contact)

    @property
    def short_url(self) -> str:
        return self.base_url + CODE_PATH

    def qr_payload(self, code: str) -> str:
        """What the QR code holds: the code form, the code in the fragment.

        Why the fragment: a browser never sends it, so the code reaches no access log, proxy or
        Referer; the form page's script copies it into the field, and the member presses the
        button (``voting/static/letter_code.js``).
        """
        return f"{self.short_url}#{code}"


def when(election: Election, moment: datetime) -> str:
    """A moment as the letter prints it: the election's local time, named unless Swedish."""
    local = election.local(moment).strftime("%Y-%m-%d kl. %H.%M")
    zone = "svensk tid" if election.timezone == SWEDISH_TIMEZONE else election.timezone
    return f"{local} ({zone})"


def address_lines(letter: Letter) -> list[str]:
    """The address block: name, c/o, street, postcode and city."""
    address = letter.address
    postcode = address.get("postcode", "").replace(" ", "")
    if len(postcode) == 5 and postcode.isdigit():
        postcode = f"{postcode[:3]} {postcode[3:]}"
    lines = [letter.name]
    co = address.get("co", "").strip()
    if co:
        lines.append(co if co.lower().startswith("c/o") else f"c/o {co}")
    if address.get("street"):
        lines.append(address["street"])
    lines.append(f"{postcode}  {address.get('city', '').upper()}".strip())
    return lines


def qr_png(payload: str) -> bytes:
    """The QR code of ``payload`` as a PNG (error correction M, the standard quiet zone)."""
    import segno

    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=10, border=4)
    return out.getvalue()


class Sheet:
    """An A4 document for a print shop, shared by the voting letters and the postal kits: DejaVu
    where it is installed (Swedish text), else the core fonts with what latin-1 cannot show
    replaced; each page can open with the sender, the title and the address in the window."""

    def __init__(self, title: str, author: str, *, compress: bool = True) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.set_compression(compress)
        self.pdf.set_auto_page_break(auto=False)
        self.pdf.set_margins(20, 15, 20)
        self.unicode = all(path.is_file() for path in FONTS.values())
        if self.unicode:
            for (family, style), path in FONTS.items():
                self.pdf.add_font(family, style, str(path))
        self.pdf.set_title(self.text(title))
        self.pdf.set_author(self.text(author))

    def font(self, family: str, style: str = "", size: float = 10) -> None:
        self.pdf.set_font(family if self.unicode else FALLBACK[family], style, size)

    def text(self, value: str) -> str:
        # Without the TTF only latin-1 renders: replace what does not fit rather than crash.
        if self.unicode:
            return value
        value = value.replace("–", "-").replace("—", "-")
        return value.encode("latin-1", "replace").decode("latin-1")

    def para(self, value: str, size: float = 10, style: str = "", height: float = 5) -> None:
        self.font("Sans", style, size)
        self.pdf.multi_cell(0, height, self.text(value), new_x="LMARGIN", new_y="NEXT")

    def letter_page(self, sender: str, title: str, address: list[str]) -> None:
        """A new page: the sender and the title above the window, the address alone in it, and
        the cursor below the window's fold for the letter itself."""
        self.pdf.add_page()
        self.pdf.set_xy(20, 15)
        self.para(sender, 9, "B", 4.5)
        self.para(title, 9, "", 4.5)
        x, y, width, _height = ADDRESS_BOX
        self.pdf.set_xy(x, y)
        self.font("Sans", "", 11)
        for line in address:
            self.pdf.set_x(x)
            self.pdf.cell(width, 5.5, self.text(line), new_x="LEFT", new_y="NEXT")
        self.pdf.set_xy(20, 100)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def render(letters: Sequence[Letter], context: LetterContext, *, compress: bool = True) -> bytes:
    """One page per letter, as PDF bytes."""
    election = context.election
    contact = context.contact
    sender = contact.get("name") or "Valberedningen"
    help_ways = [w for w in (contact.get("phone"), contact.get("email")) if w]
    sheet = Sheet(f"Röstbrev – {election.title}", sender, compress=compress)
    pdf, para, font = sheet.pdf, sheet.para, sheet.font
    for letter in letters:
        sheet.letter_page(sender, election.title, address_lines(letter))
        para(f"Du kan rösta i {election.title}", 15, "B", 7)
        pdf.ln(2)
        para(
            f"Hej {letter.name}! Du står i röstlängden för {letter.krets}. Röstningen pågår från "
            f"{when(election, election.voting_opens)} till och med "
            f"{when(election, election.voting_closes)}. Du röstar på kandidater i din egen "
            "krets, en gång. Din röst är hemlig.",
        )
        pdf.ln(3)
        top = pdf.get_y()
        if letter.code is not None:
            para("Din personliga röstkod", 11, "B", 6)
            font("Mono", "B", 17)
            pdf.cell(0, 10, letter.code, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
            pdf.set_right_margin(20 + QR_SIZE + 8)
            para("Så röstar du:", 10, "B")
            para(
                f"1. Gå till {context.short_url} i en dator, surfplatta eller mobil. "
                "Du kan också skanna QR-koden med mobilens kamera."
            )
            para(
                "2. Skriv in röstkoden och tryck på Fortsätt. Små eller stora bokstäver och "
                "mellanslag spelar ingen roll."
            )
            para("3. Välj dina kandidater och lämna din röst.")
            pdf.set_right_margin(20)
            pdf.image(
                io.BytesIO(qr_png(context.qr_payload(letter.code))),
                x=210 - 20 - QR_SIZE,
                y=top,
                w=QR_SIZE,
                h=QR_SIZE,
                alt_text="QR-kod till röstsidan med din röstkod",
            )
            pdf.set_y(max(pdf.get_y(), top + QR_SIZE) + 3)
            para(
                "Röstkoden är din röst: visa den inte för någon och släng inte brevet förrän "
                "du har röstat. Får du ett nytt brev slutar den här koden att fungera. Har du "
                "redan röstat visar sidan det, och din röst gäller."
            )
        else:
            para(
                f"Gå till {context.base_url}/val/{election.slug}/rosta och logga in med "
                "e-legitimation (BankID eller Freja eID). Du behöver ingen kod."
            )
        pdf.ln(3)
        if letter.voter_code is not None:
            para("Din väljarkod", 11, "B", 6)
            font("Mono", "B", 13)
            pdf.cell(0, 7, letter.voter_code, new_x="LMARGIN", new_y="NEXT")
            para(
                "Väljarkoden är inte hemlig och kan inte användas för att rösta. När röstningen "
                "har stängt kan du med den kontrollera att ingen annan har röstat i ditt namn, "
                f"på {check_url(context.base_url, election)}."
            )
            pdf.ln(3)
        para("Behöver du hjälp?", 11, "B", 6)
        if help_ways:
            para(f"Kontakta {sender}: {', '.join(help_ways)}.")
        else:
            para(f"Kontakta {sender}.")
    return sheet.output()
