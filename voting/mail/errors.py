"""The outbox's delivery errors: temporary (retry later) or permanent (give up)."""

from __future__ import annotations

from voting.errors import OperationalError


class DeliveryError(OperationalError):
    """Base of the outbox's delivery errors."""


class TemporaryFailure(DeliveryError):
    """Try again later: connection trouble or a 4xx reply."""


class PermanentFailure(DeliveryError):
    """The server refused the message for good (5xx for the recipient or the data)."""


class RecipientRejected(PermanentFailure):
    """The server refused the recipient's address for good (5xx to RCPT TO): a bounce."""
