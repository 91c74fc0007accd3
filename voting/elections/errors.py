"""Errors of the elections feature. They are the committee's: the command line and the
election file say them in English, and the schedule page puts each under the field it names."""

from __future__ import annotations

from voting.errors import ServiceError


class ElectionError(ServiceError):
    """Base of the election errors: ``reason`` says what is wrong with ``field``, if one is at
    fault; ``message`` is both, as the command line prints it ("title: must not be empty")."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason, field=field)
        self.reason = reason


class ElectionFileError(ElectionError):
    """An election file or schedule value is invalid; ``field`` names it."""


class ElectionNotFound(ElectionError):
    """No election has the slug."""
