"""Errors of the member register; every message is meant for the user and names the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import has_request_context
from flask_babel import gettext


def tr(msgid: str, **params: Any) -> str:
    """gettext in a request (the visitor's language); the Swedish msgid in CLI and services.

    Imported as ``_`` so that Babel extracts the msgids.
    """
    if has_request_context():
        return str(gettext(msgid, **params))
    return msgid % params if params else msgid


class RegisterError(Exception):
    """Base of the member-register errors."""


class PersonnummerError(RegisterError, ValueError):
    """A personnummer is malformed; ``part`` says which part: "format", "date" or "check_digit"."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part
        self.message = message


@dataclass(frozen=True)
class RowError:
    """One problem in an uploaded file: spreadsheet row number (header = 1), field, message."""

    row: int
    field: str
    message: str

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
