"""Operations: an election open by the real clock, gunicorn in a subprocess, a TCP proxy to cut."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.factories import make_election, make_member, make_nomination
from voting.db import ROOT, db
from voting.lifecycle.candidates import publish_candidates
from voting.lifecycle.roll import send_links
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.nominations.models import NominationStatus

SLUG = "val-drift"
KRETSAR = (("NORR", "Norr", 2), ("SYD", "Syd", 1))


@dataclass
class Voter:
    token: str
    contest: str
    choices: list[str]


@dataclass
class OpenElection:
    slug: str
    voters: list[Voter]
    voting_closes: datetime


def open_election(app: Any, clock: Any, per_krets: int = 6, base_url: str = "http://x") -> Any:
    """An election whose voting window is open by the real clock, with one link per member.

    It is built through the services as the committee would: nominations approved, candidate
    lists published (with 2048-bit keys), links queued; the tokens are read from the outbox.
    """
    start = datetime.now(UTC) - timedelta(days=15)
    clock.set(start)
    emails: dict[str, str] = {}
    with db.transaction() as s:
        election = make_election(s, start, slug=SLUG, kretsar=KRETSAR)
        for code, _, _ in KRETSAR:
            for i in range(per_krets):
                member = make_member(s, code, "Röstare", f"{code.title()}{i}", start)
                emails[member.email or ""] = code
                if i < 3:
                    make_nomination(s, election, member, start, status=NominationStatus.APPROVED)
        published = election.nomination_closes + timedelta(minutes=1)
        lists = publish_candidates(s, election, published, key_bits=2048)
        candidates = {item["krets"]: item["candidates"] for item in lists}
        contests = {c.krets_code: str(c.id) for c in election.contests}
        send_links(s, election, published, base_url, by="cli")
        closes = election.voting_closes
    voters = []
    for message in db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "voter_link")
    ):
        body = message_body(message)
        assert body is not None
        token = body.split(f"{base_url}/rosta/", 1)[1].split()[0]
        krets = emails[message.to_addr]
        seats = next(n for code, _, n in KRETSAR if code == krets)
        voters.append(Voter(token, contests[krets], candidates[krets][:seats]))
    db.session.rollback()
    clock.set(datetime.now(UTC))
    return OpenElection(SLUG, voters, closes)


@pytest.fixture
def smtp_port(_smtp_server: Any) -> int:
    return int(_smtp_server.port)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TcpProxy:
    """A TCP relay on loopback that a test can cut (every connection closed, new ones refused)
    and restore on the same port: the database "restarts" for the app behind it only."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._stop.clear()
        self._listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR is set
        self._listener.settimeout(0.1)
        thread = threading.Thread(target=self._accept, args=(self._listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            server.settimeout(None)
            with self._lock:
                self._sockets |= {client, server}
            for src, dst in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with self._lock:
                    self._sockets.discard(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def cut(self) -> None:
        """Refuse new connections and drop every open one, as a stopped server would."""
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._threads.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._sockets)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_get(base: str, path: str, headers: Mapping[str, str] | None = None) -> Answer:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path, headers=dict(headers or {}))
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


def http_transport(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Any:
    """A ballots.client transport: one short-lived HTTP connection per call."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, parts.path, body=body, headers=dict(headers))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Gunicorn:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Any]:
    """Start ``gunicorn voting:create_app(...)`` with ``VOTING_*`` settings; stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(settings: Mapping[str, str], workers: int = 2) -> Gunicorn:
        port = free_port()
        instance = tmp_path / f"instance-{port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VOTING_")},
            **{f"VOTING_{k}": v for k, v in settings.items()},
        }
        log = (tmp_path / f"gunicorn-{port}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - fixed program, no shell
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-w",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{port}",
                "--timeout",
                "30",
                "--no-control-socket",  # several test servers at once; none needs it
                f"voting:create_app(instance_path={str(instance)!r})",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(url, "/healthz").status == 200, 60, "gunicorn to come up")
        return Gunicorn(url, process)

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def secret_settings() -> dict[str, str]:
    import base64

    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
