"""A stand-in ballot server for driving voting/static/ballot.js in Chromium.

The page is the real template (voting/templates/ballot/ballot.html) rendered by the real app;
the API is answered in Python by ``page.route`` with the real ``ballots`` code: ``BlindSigner``
signs, ``parse_ballot`` and ``verify`` check what arrives. No database is involved.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask, render_template

from ballots.ballot import b64url_decode, b64url_encode, ballot_hash, parse_ballot
from ballots.blindrsa import BlindSigner, generate_private_key, public_key_spki, verify
from ballots.errors import BallotError
from ballots.rules import SelectionRule
from tests.conftest import Clock, make_app
from voting.ballot.views import RECEIPT_KEEP
from voting.headers import CSP

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://localhost:8765"  # never contacted: page.route answers everything
SLUG = "kongress-2026"
CONTEST_ID = "7"


@pytest.fixture(scope="session")
def contest_key() -> Any:
    """One 2048-bit key for the whole session (generation is the slow part)."""
    return generate_private_key(2048)


@dataclass
class FakeElection:
    slug: str = SLUG
    title: str = "Kongressval 2026"
    timezone: str = "Europe/Stockholm"
    voting_opens: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=1))
    voting_closes: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(days=1))

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))


@dataclass
class FakeKrets:
    code: str = "K1"
    name: str = "Norra kretsen"


@dataclass
class FakeContest:
    id: int = int(CONTEST_ID)
    seats: int = 2
    min_selections: int = 2
    max_selections: int = 2
    krets: FakeKrets = field(default_factory=FakeKrets)


def candidate(cid: str, first: str, last: str, **extra: Any) -> dict[str, Any]:
    """A candidate dict as the view passes it."""
    data = {
        "id": cid,
        "first_name": first,
        "last_name": last,
        "presentation": None,
        "links": [],
        "photo_url": None,
    }
    data.update(extra)
    return data


DEFAULT_CANDIDATES = [
    candidate(
        "10",
        "Anna",
        "Andersson",
        presentation="Sjuksköterska i Umeå.\nVill stärka vården.",
        links=["https://example.org/anna", "javascript:alert(1)"],
        photo_url="/static/photo-anna.png",
    ),
    candidate("9", "Bo", "Berg", presentation="Lärare."),
    candidate("100", "Cecilia", "Čapek"),
]


@dataclass
class BallotServer:
    """What the fake API received and what it should do next."""

    key: Any
    contest: FakeContest
    candidates: list[dict[str, Any]]
    signer: BlindSigner = field(init=False)
    sign_requests: list[dict[str, Any]] = field(default_factory=list)
    cast_requests: list[dict[str, Any]] = field(default_factory=list)
    ballots: dict[str, dict[str, Any]] = field(default_factory=dict)  # by signature
    signed: str | None = None  # the one blinded_msg this member got signed
    # Each queued action answers the next request of its kind instead of the normal handler:
    # "abort" (connection reset, nothing done), "lost" (done, answer lost) or an HTTP status.
    sign_failures: list[str | int] = field(default_factory=list)
    cast_failures: list[str | int] = field(default_factory=list)
    manifest_failures: list[str | int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.signer = BlindSigner(self.key)

    @property
    def rule(self) -> SelectionRule:
        return SelectionRule.build(
            self.contest.seats, self.contest.min_selections, self.contest.max_selections
        )

    def manifest(self) -> dict[str, Any]:
        return {
            "election": SLUG,
            "title": "Kongressval 2026",
            "timezone": "Europe/Stockholm",
            "voting_opens": "2026-03-01T08:00:00+00:00",
            "voting_closes": "2026-03-14T20:00:00+00:00",
            "contests": [
                {
                    "id": "3",
                    "krets": {"code": "K0", "name": "Annan krets"},
                    "seats": 1,
                    "min_selections": 1,
                    "max_selections": 1,
                    # Another krets's contest: the page must pick its own by id.
                    "public_key_spki": "",
                    "public_key_jwk": {},
                    "candidates": [{"id": "1", "name": "Någon Annan"}],
                },
                {
                    "id": str(self.contest.id),
                    "krets": {"code": "K1", "name": "Norra kretsen"},
                    "seats": self.contest.seats,
                    "min_selections": self.contest.min_selections,
                    "max_selections": self.contest.max_selections,
                    "public_key_spki": base64.b64encode(
                        public_key_spki(self.key.public_key())
                    ).decode(),
                    "public_key_jwk": {},
                    "candidates": [
                        {"id": c["id"], "name": f"{c['first_name']} {c['last_name']}"}
                        for c in self.candidates
                    ],
                },
            ],
        }

    def blind_sign(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The server's retry rule: the same blinded_msg gets the same answer, another gets 409."""
        blinded_text = body["blinded_msg"]
        blinded = b64url_decode(blinded_text, field="blinded_msg")
        with self.lock:
            if self.signed is not None and self.signed != blinded_text:
                return 409, {"error": "already_signed", "message": "Redan signerad."}
            self.signed = blinded_text
        # RSA blind signatures are deterministic: signing again gives the same blind_sig.
        return 200, {"blind_sig": b64url_encode(self.signer.sign(blinded))}

    def cast(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Check the ballot like the real endpoint: canonical, valid, signed, once."""
        try:
            parsed = parse_ballot(
                body["ballot"],
                election=SLUG,
                contest=str(self.contest.id),
                candidate_ids={c["id"] for c in self.candidates},
                rule=self.rule,
            )
            prefix = b64url_decode(body["msg_prefix"], field="msg_prefix", length=32)
            signature = b64url_decode(body["signature"], field="signature")
            input_msg = prefix + body["ballot"].encode("utf-8")
            verify(self.key.public_key(), input_msg, signature)
        except BallotError as exc:
            return 400, {"error": exc.code, "message": str(exc)}
        if parsed.canonical() != body["ballot"]:
            return 400, {"error": "not_canonical", "message": "not canonical"}
        receipt = {
            "ballot_hash": ballot_hash(prefix, body["ballot"].encode("utf-8")),
            "contest": str(self.contest.id),
            "election": SLUG,
            "server_signature": base64.b64encode(b"test").decode(),
        }
        with self.lock:
            if body["signature"] in self.ballots:
                return 200, {"receipt": receipt}
            self.ballots[body["signature"]] = {**body, "receipt": receipt}
        return 201, {"receipt": receipt}


@pytest.fixture
def render_app(tmp_path: Path) -> Iterator[Flask]:
    """The real app, used only to render the ballot template (no database is touched)."""
    app = make_app(f"sqlite:///{tmp_path / 'unused.db'}", Clock(), 25, tmp_path, SERVER_NAME=None)
    yield app
    app.extensions["db"]["engine"].dispose()


@dataclass
class BallotPage:
    """A Chromium page wired to the fake server; ``open()`` renders and loads the ballot."""

    context: Any
    app: Flask
    server: BallotServer
    election: FakeElection = field(default_factory=FakeElection)
    issued_on: date | None = None  # the server keeps only the day a signature was issued
    voting_open: bool = True
    storage_id: str = "member-a"
    # When the stored receipt is to be forgotten; None: the view's own rule (the close + 14 days).
    forget_after: datetime | None = None
    csrf: str = ""
    page: Any = None
    console_errors: list[str] = field(default_factory=list)

    def html(self, path: str) -> str:
        with self.app.test_request_context(path, base_url=ORIGIN):
            from flask_wtf.csrf import generate_csrf

            self.csrf = generate_csrf()
            return render_template(
                "ballot/ballot.html",
                election=self.election,
                contest=self.server.contest,
                rule=self.server.contest,  # the fake contest carries min/max_selections itself
                candidates=self.server.candidates,
                issued_on=self.issued_on,
                voting_open=self.voting_open,
                receipt_forget_after=self.forget_after
                or self.election.voting_closes + RECEIPT_KEEP,
                storage_id=self.storage_id,
                manifest_url=f"/api/v1/elections/{SLUG}/manifest",
                sign_url=f"/api/v1/contests/{self.server.contest.id}/blind-sign",
                cast_url=f"/api/v1/contests/{self.server.contest.id}/ballots",
                board_url=f"/api/v1/elections/{SLUG}/board",
            )

    def _route(self, route: Any) -> None:
        request = route.request
        path = request.url[len(ORIGIN) :].split("?")[0]
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}

        def answer(status: int, body: Any) -> None:
            route.fulfill(
                status=status,
                headers=headers,
                content_type="application/json",
                body=json.dumps(body),
            )

        if path == "/rosta":
            route.fulfill(
                status=200, headers=headers, content_type="text/html", body=self.html(path)
            )
        elif path.startswith("/static/"):
            target = ROOT / "voting" / "static" / path.removeprefix("/static/")
            if target.suffix == ".png":
                route.fulfill(status=200, content_type="image/png", body=_PNG)
            elif target.is_file():
                kind = "text/css" if target.suffix == ".css" else "text/javascript"
                route.fulfill(
                    status=200, headers=headers, content_type=kind, body=target.read_bytes()
                )
            else:
                route.fulfill(status=404, body="")
        elif path == f"/api/v1/elections/{SLUG}/manifest":
            if self.server.manifest_failures:
                self._fail(route, self.server.manifest_failures.pop(0))
                return
            answer(200, self.server.manifest())
        elif path.endswith("/blind-sign") and request.method == "POST":
            self.server.sign_requests.append(
                {"body": request.post_data_json, "headers": request.all_headers()}
            )
            action = self.server.sign_failures.pop(0) if self.server.sign_failures else None
            if action == "lost":
                # The server signs and records it, but the answer never reaches the browser.
                self.server.blind_sign(request.post_data_json)
                route.abort("connectionreset")
                return
            if action is not None:
                self._fail(route, action)
                return
            answer(*self.server.blind_sign(request.post_data_json))
        elif path.endswith("/ballots") and request.method == "POST":
            self.server.cast_requests.append(
                {"body": request.post_data_json, "headers": request.all_headers()}
            )
            action = self.server.cast_failures.pop(0) if self.server.cast_failures else None
            if action == "lost":
                # The ballot is stored, but the receipt never reaches the browser.
                self.server.cast(request.post_data_json)
                route.abort("connectionreset")
                return
            if action is not None:
                self._fail(route, action)
                return
            answer(*self.server.cast(request.post_data_json))
        else:
            route.fulfill(status=404, body="")

    @staticmethod
    def _fail(route: Any, action: str | int) -> None:
        if action == "abort":
            route.abort("connectionreset")
        else:
            route.fulfill(
                status=int(action),
                content_type="application/json",
                body=json.dumps({"error": "unavailable", "message": "Tillfälligt fel."}),
            )

    def open(self) -> Any:
        """Load (or reload) the ballot page and wait for the script to have run."""
        if self.page is None:
            self.page = self.context.new_page()
            self.page.on(
                "console",
                lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
            )
            self.page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))
            self.page.route(f"{ORIGIN}/**", self._route)
        self.page.goto(f"{ORIGIN}/rosta")
        self.page.wait_for_load_state("load")
        return self.page

    def storage(self) -> dict[str, Any]:
        """This origin's localStorage, values JSON-decoded."""
        raw = self.page.evaluate("() => Object.assign({}, window.localStorage)")
        return {key: json.loads(value) for key, value in raw.items()}


# A 1x1 transparent PNG for candidate photos.
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def make_ballot_page(
    browser: Any, render_app: Flask, contest_key: Any
) -> Callable[..., BallotPage]:
    """Build a BallotPage; keyword arguments override the contest, candidates and page state."""

    def build(
        *,
        contest: FakeContest | None = None,
        candidates: list[dict[str, Any]] | None = None,
        **state: Any,
    ) -> BallotPage:
        server = BallotServer(
            key=contest_key,
            contest=contest or FakeContest(),
            candidates=candidates if candidates is not None else list(DEFAULT_CANDIDATES),
        )
        return BallotPage(context=browser, app=render_app, server=server, **state)

    return build
