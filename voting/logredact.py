"""Keep emailed tokens and receipt lookups out of every log line we write or can filter.

A request log line holds the client's address and the moment. With a voting token in it
(``/rosta/<token>``) the line names the member; with a ballot's hash (the board's old
``?hash=`` lookup) it names the ballot; two such lines from one address pair a member with
their ballot (issue F3). The nomination links (``/nominera/bekrafta/<token>``,
``/kandidat/<token>``) are credentials of their own. So the token, or the hash, is replaced
by ``[redacted]`` before a record reaches any handler.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# The path segment after each emailed-link prefix; ``/kandidat/foto/<id>.jpg`` is a photo, not
# a token, and stays readable.
_TOKEN_PATHS = re.compile(
    r"(?P<prefix>/rosta/|/nominera/bekrafta/|/kandidat/(?!foto/))(?P<token>[^/?#\s\"']+)"
)
# A query parameter that carries a ballot's hash (old bookmarks of the board's lookup) or a
# token, wherever it appears: also a bare query string, as gunicorn's %(q)s atom writes it.
_SECRET_QUERY = re.compile(r"(?P<prefix>(?:^|(?<=[?&\s\"']))(?:hash|token)=)(?P<token>[^&#\s\"']*)")

# The loggers that write request lines or request paths: werkzeug's dev server (on by default),
# gunicorn's access log (off in deploy/, on with one flag) and error log, and the app's own
# logger, which names the path of a request that raised.
LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error", "voting")


def redact(text: str) -> str:
    """``text`` with every emailed token and every looked-up hash replaced by ``[redacted]``."""
    text = _TOKEN_PATHS.sub(lambda m: m.group("prefix") + REDACTED, text)
    return _SECRET_QUERY.sub(lambda m: m.group("prefix") + REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrite a record's message with its tokens redacted; the record itself is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed record: logging reports it; nothing to redact from
        cleaned = redact(message)
        if cleaned != message:
            # Why replace msg and drop args: a handler formats msg % args again, and the token
            # may sit in either (werkzeug formats first; gunicorn passes a dict of atoms).
            record.msg = cleaned
            record.args = None
        return True


def init_app() -> None:
    """Install the filter on every logger we control that can carry a request's URL."""
    # Why on the loggers and not on one handler: a deployment configures its own handlers, and
    # the filter must hold whatever they are.
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
