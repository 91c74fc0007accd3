"""Errors of the member register, with their catalog: each code's Swedish text, which
``voting.web.say`` translates for the page and ``message`` gives the command line (see
``voting.errors``). Every error names its field; none repeats a personnummer."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from voting.errors import N_, ServiceError, fill

MESSAGES: Mapping[str, str] = {
    # The file as a whole, and each row's fields.
    "not_utf8": N_("Filen är inte UTF-8. Spara den som CSV UTF-8."),
    "bad_header": N_("Rubrikraden ska vara exakt %(expected)s, men är %(found)s."),
    "empty_header": N_("Rubrikraden ska vara exakt %(expected)s, men är tom."),
    "unreadable_row": N_("Raden går inte att läsa som CSV: %(why)s"),
    "row_width": N_("Raden har %(n)s fält, men ska ha %(m)s."),
    "forbidden_character": N_("Fältet innehåller ett otillåtet tecken (%(char)s)."),
    "required": N_("Fältet måste fyllas i."),
    "too_long": N_("Högst %(n)s tecken."),
    "unknown_krets": N_("Okänd kretskod %(code)s."),
    "bad_email": N_("Ogiltig e-postadress: %(why)s"),
    "member_id_characters": N_(
        "Medlemsnumret får bara innehålla bokstäver, siffror, punkt, - och _."
    ),
    "member_id_twice": N_("Samma medlemsnummer finns redan på rad %(row)s."),
    "personnummer_twice": N_("Samma personnummer finns redan på rad %(row)s."),
    "phone_characters": N_("Telefonnumret får bara innehålla siffror, +, -, ( ) och mellanslag."),
    "address_incomplete": N_("Fältet måste fyllas i när en adress anges."),
    "postcode": N_("Postnumret ska vara fem siffror, som 123 45."),
    "forening_twice": N_("Samma förening finns redan på rad %(row)s."),
    # A personnummer (PersonnummerError: the code's part is in PERSONNUMMER_PARTS).
    "pnr_not_text": N_("Personnumret måste vara text."),
    "pnr_form": N_(
        "Personnumret har fel format: skriv 10 eller 12 siffror, till exempel "
        "ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN."
    ),
    "pnr_date": N_("Personnumret innehåller inget giltigt datum."),
    "pnr_future": N_("Personnumrets datum ligger i framtiden."),
    "pnr_plus": N_("Plustecken i personnumret betyder 100 år eller äldre, vilket inte stämmer."),
    "pnr_000": N_("Personnumrets tre siffror efter datumet kan inte vara 000."),
    "pnr_check_digit": N_("Personnumrets kontrollsiffra stämmer inte."),
    "pnr_malformed": N_("Personnumret har fel format."),
    # Members and their voting channels.
    "member_not_found": N_("Ingen medlem har medlemsnumret %(id)s."),
    "no_member": N_("Ingen medlem med numret %(id)s."),
    "unknown_channel": N_("Okänd kanal %(channel)s."),
    "channel_values": N_("Kanalen ska vara email, letter eller postal."),
    "unknown_rule": N_("Okänd regel %(rule)s."),
    "no_email": N_("Medlemmen har ingen e-postadress i registret."),
    "no_address": N_("Medlemmen har ingen postadress i registret."),
}

# Which part of a personnummer each code finds wrong.
PERSONNUMMER_PARTS = {
    "pnr_not_text": "format",
    "pnr_form": "format",
    "pnr_date": "date",
    "pnr_future": "date",
    "pnr_plus": "format",
    "pnr_000": "format",
    "pnr_check_digit": "check_digit",
    "pnr_malformed": "format",
}


class RegisterError(ServiceError):
    """Base of the member-register errors."""

    messages = MESSAGES


class PersonnummerError(RegisterError, ValueError):
    """A personnummer is malformed; ``part`` says which part: "format", "date" or "check_digit"."""

    @property
    def part(self) -> str:
        return PERSONNUMMER_PARTS[self.code or "pnr_malformed"]


@dataclass(frozen=True)
class RowError:
    """One problem in an uploaded file: spreadsheet row number (header = 1), field, and the
    problem as a code of ``MESSAGES`` with its params."""

    row: int
    field: str
    code: str
    params: Mapping[str, object] = dataclasses.field(default_factory=dict)

    messages: ClassVar[Mapping[str, str]] = MESSAGES
    word_params: ClassVar[tuple[str, ...]] = ()

    @property
    def message(self) -> str:
        """The problem in plain Swedish (the command line)."""
        return fill(self.messages[self.code], self.params)

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message}"


class RegisterImportError(RegisterError):
    """The file was refused; ``errors`` lists every problem found. Nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = list(errors)
        summary = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} error(s): {summary}{more}")


class MemberNotFound(RegisterError):
    """No member has that member ID."""
