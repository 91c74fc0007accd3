"""A cast request never reaches a request log; other requests still do."""

from __future__ import annotations

import logging

from voting.privacy import DropBallotRequests


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("werkzeug", logging.INFO, __file__, 1, message, None, None)


def test_cast_lines_are_dropped_and_others_kept(app):
    log_filter = next(
        f for f in logging.getLogger("werkzeug").filters if isinstance(f, DropBallotRequests)
    )
    line = '127.0.0.1 - - [12/Jan/2027 10:00:00] "POST /api/v1/contests/3/ballots HTTP/1.1" 201 -'
    assert not log_filter.filter(_record(line))
    assert log_filter.filter(_record(line.replace("/ballots", "/blind-sign")))
    assert log_filter.filter(_record('127.0.0.1 - - "GET / HTTP/1.1" 200 -'))
