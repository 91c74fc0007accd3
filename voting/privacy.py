"""Keep the ballot endpoint out of request logs: no IP address or time of a cast is recorded."""

from __future__ import annotations

import logging
import re

CAST_PATH = re.compile(r"/api/v1/contests/[^/\s]+/ballots")


class DropBallotRequests(logging.Filter):
    """Drop any log record that mentions a cast request (it would carry the IP and the time)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        return CAST_PATH.search(message) is None


def init_app() -> None:
    """Install the filter on the loggers that write request lines."""
    # Why filter rather than trust configuration: the dev server's request log is on by default,
    # and one forgotten setting must not be enough to link voters to ballots by arrival time.
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropBallotRequests) for f in logger.filters):
            logger.addFilter(DropBallotRequests())
