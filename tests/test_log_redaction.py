"""Emailed tokens and receipt lookups never reach a log line (issue 14, F3)."""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from voting.logredact import LOGGERS, REDACTED, RedactTokens, redact

TOKEN = "Zx3_kQ-9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
HASH = "ab" * 32


class Collect(logging.Handler):
    """Keeps every formatted line that reaches it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def collect() -> Iterator[Any]:
    """Attach a collecting handler to a named logger for one test."""
    attached: list[tuple[logging.Logger, Collect, int]] = []

    def attach(name: str) -> Collect:
        logger = logging.getLogger(name)
        handler = Collect()
        attached.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        return handler

    yield attach
    for logger, handler, level in attached:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f'"GET /rosta/{TOKEN} HTTP/1.1" 302 -', f'"GET /rosta/{REDACTED} HTTP/1.1" 302 -'),
        (f"GET /nominera/bekrafta/{TOKEN} 200", f"GET /nominera/bekrafta/{REDACTED} 200"),
        (f"POST /kandidat/{TOKEN}?lang=en 200", f"POST /kandidat/{REDACTED}?lang=en 200"),
        (
            f"GET /val/x/anslagstavla?hash={HASH} 200",
            f"GET /val/x/anslagstavla?hash={REDACTED} 200",
        ),
        (f"GET /x?lang=sv&hash={HASH}&a=1", f"GET /x?lang=sv&hash={REDACTED}&a=1"),
        (f"hash={HASH}", f"hash={REDACTED}"),  # gunicorn's %(q)s: the bare query string
        (
            f"Referer: https://val.example.org/rosta/{TOKEN}",
            f"Referer: https://val.example.org/rosta/{REDACTED}",
        ),
    ],
)
def test_tokens_and_hashes_are_redacted(line, expected):
    assert redact(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        '"GET /rosta HTTP/1.1" 200 -',  # the ballot page itself: no token
        '"GET /kandidat/foto/12.jpg HTTP/1.1" 200 -',  # a photo, not a token
        '"GET /kandidat HTTP/1.1" 200 -',
        '"GET /val/kongress-2026/anslagstavla HTTP/1.1" 200 -',
        "GET /admin/members?q=hashim",  # a word that merely contains "hash"
    ],
)
def test_lines_without_a_secret_are_left_alone(line):
    assert redact(line) == line


def test_every_request_logger_carries_the_filter(app):
    for name in LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactTokens) for f in filters) == 1, name


def test_the_dev_servers_request_log_never_holds_a_token(app, collect):
    """The real werkzeug server, the one `flask run` and scripts/serve use, on loopback."""
    from werkzeug.serving import make_server

    lines = collect("werkzeug").lines
    server = make_server("127.0.0.1", 0, app, threaded=False)
    base = f"http://127.0.0.1:{server.server_port}"
    paths = [
        f"/rosta/{TOKEN}",
        f"/nominera/bekrafta/{TOKEN}",
        f"/kandidat/{TOKEN}",
        f"/val/nope/anslagstavla?hash={HASH}",
    ]
    try:
        for path in paths:
            request = urllib.request.Request(base + path)  # noqa: S310 - loopback, http
            answer = threading.Thread(target=server.handle_request)
            answer.start()
            # 403, 404: the line is logged all the same.
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
            answer.join(5)
    finally:
        server.server_close()
    joined = "\n".join(lines)
    assert len([line for line in lines if "HTTP/1.1" in line]) == len(paths), joined
    assert TOKEN not in joined
    assert HASH not in joined
    assert joined.count(REDACTED) == len(paths)
    assert "/rosta/[redacted]" in joined


def test_gunicorns_access_log_never_holds_a_token(app, collect):
    """gunicorn's own access logger, fed the way gunicorn feeds it (a dict of atoms)."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    saved = {
        name: (logger.handlers[:], logger.propagate)
        for name in ("gunicorn.access", "gunicorn.error")
        for logger in [logging.getLogger(name)]
    }
    config = Config()
    config.set("accesslog", "/dev/null")
    config.set("access_log_format", '%(h)s "%(r)s" %(s)s "%(f)s" %(U)s %(q)s')
    access = Logger(config)  # sets up gunicorn's loggers as a gunicorn worker has them
    lines = collect("gunicorn.access").lines
    environ = {
        "REMOTE_ADDR": "203.0.113.7",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/rosta/{TOKEN}?hash={HASH}",
        "PATH_INFO": f"/rosta/{TOKEN}",
        "QUERY_STRING": f"hash={HASH}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://val.example.org/kandidat/{TOKEN}",
    }
    response = SimpleNamespace(status="302 FOUND", sent=0, headers=[], response_length=0)
    request = SimpleNamespace(headers=[])
    try:
        access.access(response, request, environ, datetime.timedelta(seconds=0.01))
    finally:
        for name, (handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            for handler in logger.handlers[:]:
                if handler not in handlers and not isinstance(handler, Collect):
                    logger.removeHandler(handler)
                    handler.close()
            logger.propagate = propagate
    assert len(lines) == 1
    (line,) = lines
    assert TOKEN not in line
    assert HASH not in line
    assert line.startswith('203.0.113.7 "GET /rosta/[redacted]?hash=[redacted] HTTP/1.1" 302')


def test_a_crash_on_a_link_page_logs_the_path_without_its_token(app, collect):
    """Flask logs "Exception on <path> [GET]" through the app's logger when a view raises."""
    lines = collect(app.logger.name).lines

    @app.route("/rosta/<token>/boom", methods=["GET"])
    def boom(token: str) -> str:
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    assert client.get(f"/rosta/{TOKEN}/boom").status_code == 500
    joined = "\n".join(lines)
    assert "Exception on /rosta/[redacted]/boom [GET]" in joined
    assert TOKEN not in joined
