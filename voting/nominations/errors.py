"""Errors of the nominations feature; each message is meant for the person who caused it."""

from __future__ import annotations

from voting.errors import ServiceError


class NominationError(Exception):
    """Base of the nomination errors; ``field`` names the form field at fault, if any."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NominationClosed(NominationError):
    """The election takes no nominations now (before the window, after it, or published)."""

    status = 403


class LinkInvalid(NominationError):
    """An emailed link is unknown, already used, expired or revoked; ``reason`` says which."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = 404 if reason in {"unknown", "revoked"} else 410


class NotAllowed(NominationError):
    """The action does not fit the nomination's state (already answered, lists published)."""

    status = 409


class PresentationInvalid(NominationError):
    """The candidate presentation has a bad field: text, photo or link."""


class PhotoInvalid(PresentationInvalid):
    """The photo is too large, not a JPEG or PNG, or cannot be decoded."""


class ReviewError(ServiceError):
    """A review action does not fit the nomination's or the election's state."""

    status = 409


class NotFound(ReviewError):
    """No nomination or election with that id or slug."""

    status = 404


class CandidatesPublished(ReviewError):
    """The candidate lists are published and frozen; nothing on them may change."""
