"""Locust load test: voters open their emailed link, view the ballot, vote and poll the board.

Run by ``scripts/bench_load.py`` (and ``tests/faults/test_load.py``), which set up the election
and gunicorn and write the voters file this reads. By hand:

    LOAD_VOTERS=voters.json .venv/bin/locust -f scripts/locustfile.py --host http://127.0.0.1:8000

``voters.json`` is ``{"slug": ..., "voters": [{"token", "contest", "choices"}, ...]}``: real
voting-link tokens. Each simulated user is one voter, with its own link and its own source
address on loopback (127.77.x.y), as 500 voters at home would be: the per-address limit on opening
links applies to each of them as it would in production, and is not switched off.

A vote is what the ballot page's JavaScript does: the blinded ballot is signed with the voter's
cookie session and the page's CSRF token, then cast anonymously (no cookie, no token). The
client's RSA work (canonical ballot, PSS encoding, blinding) is prepared once per user when it
starts, outside any timed request; unblinding and checking the signature happen in the task.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

import gevent.local
from geventhttpclient.connectionpool import ConnectionPool
from locust import FastHttpUser, between, task
from locust.contrib.fasthttp import FastHttpSession

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ballots.ballot import b64url_decode, b64url_encode, canonical_ballot, new_nonce  # noqa: E402
from ballots.blindrsa import blind, finalize, prepare  # noqa: E402
from ballots.client import Manifest, SignedBallot, parse_manifest  # noqa: E402

DATA = json.loads(Path(os.environ["LOAD_VOTERS"]).read_text(encoding="utf-8"))
SLUG: str = DATA["slug"]
_voters = iter(DATA["voters"])
_numbers = itertools.count()
_lock = threading.Lock()
_manifest: list[Manifest] = []
CSRF_RE = re.compile(r'data-csrf-token="([^"]+)"')

# --- One source address per simulated voter ----------------------------------------------

_source = gevent.local.local()
_create_tcp_socket = ConnectionPool._create_tcp_socket


def _bound_socket(self: ConnectionPool, family: int, socktype: int, protocol: int) -> Any:
    """Bind each new connection to the current user's own loopback address."""
    sock = _create_tcp_socket(self, family, socktype, protocol)
    address = getattr(_source, "address", None)
    if address is not None:
        sock.bind((address, 0))
    return sock


ConnectionPool._create_tcp_socket = _bound_socket  # type: ignore[method-assign]


def source_address(number: int) -> str:
    """127.77.0.1, 127.77.0.2, …: 250 addresses per /24, all on the loopback interface."""
    return f"127.77.{number // 250}.{number % 250 + 1}"


class Voter(FastHttpUser):
    """One member with a voting link; between actions a voter reads and thinks for a while."""

    wait_time = between(2, 6)
    network_timeout = 60.0
    connection_timeout = 30.0

    def on_start(self) -> None:
        number = next(_numbers)
        _source.address = source_address(number)
        try:
            self.voter = next(_voters)
        except StopIteration:
            raise RuntimeError("LOAD_VOTERS has fewer voters than users") from None
        self.voted = False
        self.csrf: str | None = None
        # The ballot page casts with credentials "omit": a session of its own, with no cookies.
        self.anonymous = FastHttpSession(
            self.host,
            self.environment.events.request,
            user=self,
            network_timeout=self.network_timeout,
            connection_timeout=self.connection_timeout,
        )
        self.anonymous.client.cookiejar = None
        self.open_link(name="/rosta/[token] (link, first open)")
        self.prepared = self._prepare()

    def manifest(self) -> Manifest:
        if not _manifest:
            with self.client.get(f"/api/v1/elections/{SLUG}/manifest", name="manifest") as r:
                data = r.json()
            with _lock:
                if not _manifest:
                    _manifest.append(parse_manifest(SLUG, data))
        return _manifest[0]

    def _prepare(self) -> tuple[Any, ...]:
        contest = self.manifest().contest(self.voter["contest"])
        ballot = canonical_ballot(SLUG, contest.id, self.voter["choices"], new_nonce())
        msg_prefix, input_msg = prepare(ballot.encode("utf-8"))
        blinded, inv = blind(contest.public_key, input_msg)
        return contest, ballot, msg_prefix, input_msg, blinded, inv

    def _remember_csrf(self, text: str | None) -> None:
        found = CSRF_RE.search(text or "")
        if found:
            self.csrf = found.group(1)

    @task(1)
    def open_link(self, name: str = "/rosta/[token] (link, again)") -> None:
        """The emailed link: exchanged for a session, then redirected to the ballot page."""
        with self.client.get(
            f"/rosta/{self.voter['token']}", name=name, catch_response=True
        ) as response:
            if response.status_code != 200 or "ballot-app" not in (response.text or ""):
                response.failure(f"link did not lead to the ballot page: {response.status_code}")
                return
            self._remember_csrf(response.text)

    @task(4)
    def ballot_page(self) -> None:
        with self.client.get("/rosta", name="/rosta (ballot page)", catch_response=True) as r:
            if r.status_code != 200 or "ballot-app" not in (r.text or ""):
                r.failure(f"no ballot page: {r.status_code}")
                return
            self._remember_csrf(r.text)

    @task(2)
    def load_manifest(self) -> None:
        """The ballot page's script loads the manifest (public keys and candidates)."""
        self.client.get(f"/api/v1/elections/{SLUG}/manifest", name="manifest")

    @task(3)
    def vote(self) -> None:
        if self.voted or self.csrf is None:
            return
        contest, ballot, msg_prefix, input_msg, blinded, inv = self.prepared
        with self.client.post(
            f"/api/v1/contests/{contest.id}/blind-sign",
            json={"blinded_msg": b64url_encode(blinded)},
            headers={"X-CSRFToken": self.csrf},
            name="blind-sign",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"blind-sign: {response.status_code} {response.text[:200]}")
                return
            blind_sig = b64url_decode(response.json()["blind_sig"], field="blind_sig")
        signature = finalize(contest.public_key, input_msg, blind_sig, inv)
        signed = SignedBallot(contest.id, ballot, msg_prefix, signature)
        with self.anonymous.post(
            f"/api/v1/contests/{contest.id}/ballots",
            json=signed.body(),
            name="cast",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"cast: {response.status_code} {response.text[:200]}")
                return
            if response.json()["receipt"]["ballot_hash"] != signed.ballot_hash:
                response.failure("cast: the receipt names another ballot")
                return
        self.voted = True

    @task(2)
    def board_api(self) -> None:
        self.client.get(f"/api/v1/elections/{SLUG}/board", name="board (API)")

    @task(1)
    def board_page(self) -> None:
        self.client.get(f"/val/{SLUG}/anslagstavla", name="board (page)")
