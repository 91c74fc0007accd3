"""The reference voter client against an in-process fake of the API (and once over real HTTP)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ballots import (
    ApiError,
    BallotError,
    BlindSigner,
    ClientError,
    InvalidBallot,
    InvalidSignature,
    SelectionRule,
    b64url_decode,
    b64url_encode,
    ballot_hash,
    ballot_input_msg,
    parse_ballot,
    public_key_jwk,
    public_key_spki,
    verify,
)
from ballots.client import SignedBallot, VoterClient, urllib_transport

SLUG = "val-2026"
BASE = "https://vote.example"
TOKEN_A = "tok-a"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """Just enough of the server's API, built on ballots itself, to drive the client."""

    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
    tokens: dict[str, str] = field(default_factory=lambda: {"tok-a": "1", "tok-b": "2"})
    requests: list[Request] = field(default_factory=list)
    issued: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    board: dict[bytes, dict[str, str]] = field(default_factory=dict)
    tamper_blind_sig: bool = False
    tamper_receipt: bool = False

    def __post_init__(self) -> None:
        self.signers = {"1": BlindSigner(self.keys[0]), "2": BlindSigner(self.keys[1])}
        self.candidates = {"1": ["11", "12", "13"], "2": ["21", "22"]}
        self.rules = {"1": SelectionRule.build(seats=2), "2": SelectionRule.build(seats=1)}

    def manifest(self) -> dict[str, Any]:
        contests = []
        for contest_id, signer in self.signers.items():
            contests.append(
                {
                    "id": contest_id,
                    "krets": {"code": f"K{contest_id}", "name": f"Krets {contest_id}"},
                    "seats": self.rules[contest_id].seats,
                    "min_selections": None,
                    "max_selections": None,
                    "public_key_spki": base64.b64encode(
                        public_key_spki(signer.public_key)
                    ).decode(),
                    "public_key_jwk": public_key_jwk(signer.public_key),
                    "candidates": [
                        {"id": c, "name": f"Kandidat {c}"} for c in self.candidates[contest_id]
                    ],
                }
            )
        return {"election": {"slug": SLUG}, "contests": contests}

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        path = urllib.parse.urlsplit(url).path
        data = json.loads(body) if body else None
        self.requests.append(Request(method, path, dict(headers), data))
        status, answer = self.route(method, path.split("/"), dict(headers), data)
        return status, json.dumps(answer).encode()

    @staticmethod
    def error(status: int, code: str) -> tuple[int, dict[str, str]]:
        return status, {"error": code, "message": f"refused: {code}"}

    def route(
        self, method: str, parts: list[str], headers: dict[str, str], data: Any
    ) -> tuple[int, Any]:
        match method, parts:
            case "GET", ["", "api", "v1", "elections", slug, "manifest"] if slug == SLUG:
                return 200, self.manifest()
            case "POST", ["", "api", "v1", "contests", contest_id, "blind-sign"]:
                return self.blind_sign(contest_id, headers, data)
            case "POST", ["", "api", "v1", "contests", contest_id, "ballots"]:
                return self.cast(contest_id, data)
        return self.error(404, "not_found")

    def blind_sign(self, contest_id: str, headers: dict[str, str], data: Any) -> tuple[int, Any]:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return self.error(401, "unauthorized")
        if self.tokens[token] != contest_id:
            return self.error(403, "wrong_krets")
        try:
            blinded_msg = b64url_decode(data["blinded_msg"], field="blinded_msg")
            digest = hashlib.sha256(blinded_msg).hexdigest()
            previous = self.issued.get((token, contest_id))
            if previous is not None:
                if previous[0] != digest:
                    return self.error(409, "already_signed")
                return 200, {"blind_sig": b64url_encode(previous[1])}
            blind_sig = self.signers[contest_id].sign(blinded_msg)
        except BallotError as exc:
            return self.error(400, exc.code)
        if self.tamper_blind_sig:
            # One bit off. (Not another key's signature: the blinded message may be larger than
            # that key's modulus, which the signer refuses before any tampering shows.)
            blind_sig = blind_sig[:-1] + bytes([blind_sig[-1] ^ 1])
        self.issued[(token, contest_id)] = (digest, blind_sig)
        return 200, {"blind_sig": b64url_encode(blind_sig)}

    def cast(self, contest_id: str, data: Any) -> tuple[int, Any]:
        try:
            msg_prefix = b64url_decode(data["msg_prefix"], field="msg_prefix", length=32)
            signature = b64url_decode(data["signature"], field="signature")
            parse_ballot(
                data["ballot"],
                election=SLUG,
                contest=contest_id,
                candidate_ids=set(self.candidates[contest_id]),
                rule=self.rules[contest_id],
            )
            input_msg = ballot_input_msg(msg_prefix, data["ballot"])
            verify(self.signers[contest_id].public_key, input_msg, signature)
        except BallotError as exc:
            return self.error(400, exc.code)
        if signature in self.board:
            return 200, {"receipt": self.board[signature]}
        receipt = {
            "ballot_hash": ballot_hash(msg_prefix, data["ballot"].encode()),
            "contest": contest_id,
            "election": SLUG,
            "server_signature": "c2ln",
        }
        if self.tamper_receipt:
            receipt["ballot_hash"] = "0" * 64
        self.board[signature] = receipt
        return 201, {"receipt": receipt}


@pytest.fixture
def api(krets_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> FakeApi:
    return FakeApi(krets_keys)


def client(api: FakeApi, token: str | None = TOKEN_A) -> VoterClient:
    return VoterClient(BASE + "/", token, transport=api)


def test_vote_end_to_end(api: FakeApi) -> None:
    receipt = client(api).vote(SLUG, "1", ["13", "11"])
    assert receipt["contest"] == "1"
    assert receipt["election"] == SLUG
    [(signature, stored)] = api.board.items()
    assert stored == receipt

    sign_request, cast_request = api.requests[1], api.requests[2]
    assert sign_request.path == "/api/v1/contests/1/blind-sign"
    assert sign_request.headers["Authorization"] == "Bearer tok-a"
    assert cast_request.path == "/api/v1/contests/1/ballots"
    # The cast carries nothing of the signing session.
    assert "Authorization" not in cast_request.headers
    assert set(cast_request.body) == {"ballot", "msg_prefix", "signature"}

    ballot = cast_request.body["ballot"]
    assert json.loads(ballot)["choices"] == ["11", "13"]
    msg_prefix = b64url_decode(cast_request.body["msg_prefix"])
    assert receipt["ballot_hash"] == hashlib.sha256(msg_prefix + ballot.encode()).hexdigest()
    # Anyone can check the counted ballot with cryptography and the manifest's key alone.
    api.keys[0].public_key().verify(
        signature,
        msg_prefix + ballot.encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
        hashes.SHA384(),
    )
    # The blinded message the server saw is not the ballot's input_msg in any form.
    blinded = b64url_decode(sign_request.body["blinded_msg"])
    assert ballot.encode() not in blinded
    assert msg_prefix not in blinded


def test_second_vote_with_the_same_link_is_refused(api: FakeApi) -> None:
    voter = client(api)
    voter.vote(SLUG, "1", ["11", "12"])
    with pytest.raises(ApiError) as info:
        voter.vote(SLUG, "1", ["12", "13"])
    assert info.value.status == 409
    assert info.value.code == "already_signed"
    assert len(api.board) == 1


def test_retrying_a_cast_gets_the_same_receipt(api: FakeApi) -> None:
    voter = client(api, "tok-b")
    signed = voter.sign_ballot(SLUG, "2", ["22"])
    first = voter.cast(signed, election=SLUG)
    second = voter.cast(signed, election=SLUG)
    assert first == second
    assert len(api.board) == 1


def test_contest_of_another_krets_is_refused(api: FakeApi) -> None:
    with pytest.raises(ApiError) as info:
        client(api).vote(SLUG, "2", ["21"])
    assert info.value.status == 403
    assert info.value.code == "wrong_krets"


def test_ballot_signed_for_one_krets_is_refused_in_another(api: FakeApi) -> None:
    signed = client(api).sign_ballot(SLUG, "1", ["11", "12"])
    moved = SignedBallot("2", signed.ballot, signed.msg_prefix, signed.signature)
    with pytest.raises(ApiError) as info:
        client(api, None).cast(moved)
    assert info.value.code in {"ballot_wrong_contest", "invalid_signature"}
    assert not api.board


@pytest.mark.parametrize(
    ("choices", "code"),
    [
        (["11"], "ballot_selection_count"),
        (["11", "99"], "ballot_unknown_candidate"),
        (["11", "11"], "ballot_duplicate_choice"),
    ],
)
def test_bad_choices_never_spend_the_signature(api: FakeApi, choices: list[str], code: str) -> None:
    with pytest.raises(InvalidBallot) as info:
        client(api).vote(SLUG, "1", choices)
    assert info.value.code == code
    assert [r.path for r in api.requests] == [f"/api/v1/elections/{SLUG}/manifest"]


def test_a_wrong_blind_signature_is_caught(api: FakeApi) -> None:
    api.tamper_blind_sig = True
    with pytest.raises(InvalidSignature):
        client(api).vote(SLUG, "1", ["11", "12"])
    assert not any(r.path.endswith("/ballots") for r in api.requests)


def test_a_wrong_receipt_is_caught(api: FakeApi) -> None:
    api.tamper_receipt = True
    with pytest.raises(ClientError, match="ballot_hash"):
        client(api).vote(SLUG, "1", ["11", "12"])


def test_unknown_token_and_missing_token(api: FakeApi) -> None:
    with pytest.raises(ApiError) as info:
        client(api, "nope").vote(SLUG, "1", ["11", "12"])
    assert info.value.status == 401
    with pytest.raises(ClientError, match="token"):
        client(api, None).vote(SLUG, "1", ["11", "12"])


def test_unknown_contest_and_election(api: FakeApi) -> None:
    with pytest.raises(ClientError, match="not in the manifest"):
        client(api).vote(SLUG, "7", ["11"])
    with pytest.raises(ApiError) as info:
        client(api).manifest("other")
    assert info.value.status == 404


def test_manifest_is_parsed_and_cached(api: FakeApi) -> None:
    voter = client(api)
    manifest = voter.manifest(SLUG)
    assert voter.manifest(SLUG) is manifest
    assert len(api.requests) == 1
    contest = manifest.contest("1")
    assert contest.candidate_ids == {"11", "12", "13"}
    assert contest.rule == SelectionRule.build(seats=2)
    assert contest.public_key.public_numbers() == api.keys[0].public_key().public_numbers()
    assert contest.krets["code"] == "K1"


def test_bad_manifest_is_a_client_error(api: FakeApi) -> None:
    def transport(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        return 200, b'{"contests": [{"id": 1}]}'

    # Only the voter's own contest is parsed: a bad one is an error when it is asked for.
    manifest = VoterClient(BASE, "t", transport=transport).manifest(SLUG)
    with pytest.raises(ClientError, match="manifest: unexpected shape"):
        manifest.contest("1")
    with pytest.raises(ClientError, match="is not in the manifest"):
        manifest.contest("2")

    def no_contests(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        return 200, b'{"contests": {"1": {}}}'

    with pytest.raises(ClientError, match="no list of contests"):
        VoterClient(BASE, "t", transport=no_contests).manifest(SLUG)

    def not_json(
        method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        return 502, b"<html>Bad gateway</html>"

    with pytest.raises(ClientError, match="not JSON"):
        VoterClient(BASE, "t", transport=not_json).manifest(SLUG)


@pytest.fixture
def http_server(api: FakeApi) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            status, answer = api(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = handle_one  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(  # a short poll, for a quick shutdown
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_vote_over_real_http(api: FakeApi, http_server: str) -> None:
    receipt = VoterClient(http_server, "tok-a").vote(SLUG, "1", ["11", "12"])
    assert receipt == next(iter(api.board.values()))
    with pytest.raises(ApiError) as info:
        VoterClient(http_server, "tok-a").vote(SLUG, "1", ["12", "13"])
    assert info.value.status == 409


def test_urllib_transport_refuses_other_schemes() -> None:
    with pytest.raises(ClientError, match="http"):
        urllib_transport("GET", "file:///etc/passwd", {}, None)


@dataclass
class Flaky:
    """Wraps the fake API: the server does its work, then the answer is lost on the way back."""

    api: FakeApi
    lose: dict[str, int]  # path suffix -> how many answers to lose
    status: int | None = None  # None: the connection drops; else this status comes back

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        answer = self.api(method, url, headers, body)
        for suffix, count in self.lose.items():
            if url.endswith(suffix) and count:
                self.lose[suffix] = count - 1
                if self.status is None:
                    raise ConnectionResetError("connection reset by peer")
                return self.status, b"<html>Bad gateway</html>"
        return answer


@pytest.mark.parametrize("status", [None, 502, 503])
def test_lost_answers_are_asked_for_again_with_the_same_request(
    api: FakeApi, status: int | None
) -> None:
    waits: list[float] = []
    transport = Flaky(api, {"/blind-sign": 2, "/ballots": 1}, status)
    voter = VoterClient(BASE, TOKEN_A, transport=transport, retries=3, sleep=waits.append)
    receipt = voter.vote(SLUG, "1", ["11", "12"])
    signs = [r.body for r in api.requests if r.path.endswith("/blind-sign")]
    casts = [r.body for r in api.requests if r.path.endswith("/ballots")]
    # The server signed three times, each time the same blinded message (not a new ballot,
    # which it would refuse with 409), and the one ballot was counted once.
    assert len(signs) == 3
    assert signs[0] == signs[1] == signs[2]
    assert len(casts) == 2
    assert casts[0] == casts[1]
    assert len(api.board) == 1
    assert receipt["ballot_hash"] == next(iter(api.board.values()))["ballot_hash"]
    assert waits == [1.0, 2.0, 1.0]


def test_without_retries_a_lost_answer_is_a_clear_error(api: FakeApi) -> None:
    voter = VoterClient(BASE, TOKEN_A, transport=Flaky(api, {"/blind-sign": 1}))
    with pytest.raises(ClientError, match="no answer .*ConnectionResetError"):
        voter.vote(SLUG, "1", ["11", "12"])
    flaky = Flaky(api, {"/ballots": 5}, 503)
    voter = VoterClient(BASE, "tok-b", transport=flaky, retries=2, sleep=lambda _: None)
    with pytest.raises(ApiError) as info:
        voter.vote(SLUG, "2", ["21"])
    assert info.value.status == 503
    # The server did count it; only the answers were lost (three tries, one ballot).
    assert len(api.board) == 1
    assert sum(r.path.endswith("/ballots") for r in api.requests) == 3


def test_refusals_are_not_retried(api: FakeApi) -> None:
    waits: list[float] = []
    voter = VoterClient(BASE, TOKEN_A, transport=api, retries=3, sleep=waits.append)
    voter.vote(SLUG, "1", ["11", "12"])
    with pytest.raises(ApiError) as info:
        voter.vote(SLUG, "1", ["12", "13"])
    assert info.value.status == 409
    assert waits == []
