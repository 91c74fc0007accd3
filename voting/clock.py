"""The app's clock, as views and commands read it: ``clock.now()``.

``CLOCK`` in the app's config is real UTC time in production and a settable clock in tests and
the demo, so that every schedule guard can be tried at any moment. Services below the views take
``now`` as an argument instead of reading it.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app


def now() -> datetime:
    """The current time by the app's clock, timezone-aware UTC."""
    moment: datetime = current_app.config["CLOCK"]()
    return moment
