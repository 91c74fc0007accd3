"""A photo sent with a presentation form that had errors, kept until the nominee saves.

Why in the page, signed, rather than in a table: nothing is stored for a form that is never
saved (no orphaned photos of people to clean up, no schema change), and the nominee's next
press of "Spara" brings the photo back. The value is the photo already re-encoded by
``photos.reencode`` and signed with the app's key for this one nomination, so it cannot be
swapped for another nominee's, and it expires with the nominee's session. The service
re-encodes it again when it is saved, as it does every upload.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner

MAX_AGE = timedelta(hours=4)  # as the nominee's session (views.NOMINEE_SESSION)
_SALT = "nominee-pending-photo"


def _signer() -> TimestampSigner:
    return TimestampSigner(current_app.config["SECRET_KEY"], salt=_SALT)


def seal(nomination_id: int, jpeg: bytes) -> str:
    """The signed form value carrying ``jpeg`` for ``nomination_id``."""
    value = f"{nomination_id}.{base64.urlsafe_b64encode(jpeg).decode()}"
    return _signer().sign(value).decode()


def unseal(nomination_id: int, sealed: str | None) -> bytes | None:
    """The JPEG in ``sealed`` if it is ours, for this nomination and fresh; else None."""
    if not sealed:
        return None
    try:
        value = _signer().unsign(sealed, max_age=int(MAX_AGE.total_seconds())).decode()
        owner, _sep, data = value.partition(".")
        if owner != str(nomination_id):
            return None
        return base64.urlsafe_b64decode(data.encode())
    except (BadSignature, ValueError, binascii.Error):
        return None


def data_uri(jpeg: bytes) -> str:
    """The photo as a ``data:`` URI, for the preview (the CSP allows data: images)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
