"""Votes through crashes: a careful voter client and a run that kills gunicorn under it.

Used by ``scripts/bench_vote.py --crash`` and ``tests/faults/test_crash_during_voting.py``.

A careful client keeps what it needs to retry until it holds a receipt: its blinded message
(with the unblinding factor) until it has the signature, then the finalized signed ballot. A
dropped connection or a 5xx is retried with exactly that saved state, which docs/api.md
promises is safe: the same ``blinded_msg`` gets the same ``blind_sig``, and the identical ballot
gets the same receipt.
"""

from __future__ import annotations

import http.client
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench_setup import Gunicorn, Voter  # noqa: E402

from ballots.ballot import canonical_ballot, new_nonce  # noqa: E402
from ballots.blindrsa import blind, finalize, prepare  # noqa: E402
from ballots.client import Manifest, SignedBallot, VoterClient  # noqa: E402
from ballots.errors import ApiError  # noqa: E402

RETRY_FOR = 90.0  # seconds a client keeps retrying one step before it gives up
T = TypeVar("T")


class Transient(Exception):
    """The request may not have reached the app, or its answer was lost: retry it."""


class RetryTransport:
    """A ballots.client transport: one keep-alive connection per thread; a dropped connection
    or a 5xx answer raises Transient instead of being read as an answer."""

    def __init__(self, timeout: float = 30) -> None:
        self.timeout = timeout
        self.local = threading.local()
        self.connections: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def __call__(
        self, method: str, url: str, headers: Any, body: bytes | None
    ) -> tuple[int, bytes]:
        parts = urlsplit(url)
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=self.timeout
            )
            with self.lock:
                self.connections.append(conn)
        try:
            conn.request(method, parts.path, body=body, headers=dict(headers))
            response = conn.getresponse()
            status, data = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            self.local.conn = None
            raise Transient(repr(exc)) from exc
        if status >= 500:
            raise Transient(f"HTTP {status}")
        return status, data

    def close(self) -> None:
        with self.lock:
            for conn in self.connections:
                conn.close()


@dataclass
class Outcome:
    """What one voter got: the receipt, how often it retried, and anything that went wrong."""

    member_id: str
    contest: str
    receipt: dict[str, str] | None = None
    retries: int = 0
    resubmitted: bool = False  # cast its saved signed ballot more than once
    problems: list[str] = field(default_factory=list)


def retry(step: Callable[[], T], outcome: Outcome) -> T:
    """Run ``step`` until it answers (an ApiError is an answer); count the retries."""
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            return step()
        except Transient:
            outcome.retries += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05 + 0.1 * secrets.randbelow(4))


def careful_vote(
    client: VoterClient, manifest: Manifest, slug: str, voter: Voter, index: int
) -> Outcome:
    """One voter: keep the saved state and retry with it until there is a receipt.

    Some voters also act out a lost answer on purpose (``index`` picks which): every 5th asks
    for its signature twice, every 7th then tries a second ballot (which must be refused with
    409), every 3rd casts its signed ballot twice (which must give the same receipt).
    """
    out = Outcome(voter.member_id, voter.contest)
    contest = manifest.contest(voter.contest)
    ballot = canonical_ballot(slug, contest.id, voter.choices, new_nonce())
    msg_prefix, input_msg = prepare(ballot.encode("utf-8"))
    # Saved before the first request: a lost answer is asked for again with the same message.
    blinded, inv = blind(contest.public_key, input_msg)
    blind_sig = retry(lambda: client.request_blind_signature(contest.id, blinded), out)
    if index % 5 == 0:
        again = retry(lambda: client.request_blind_signature(contest.id, blinded), out)
        if again != blind_sig:
            out.problems.append("the same blinded message got another signature")
    if index % 7 == 0:
        # A client that lost its saved state and starts over must not get a second signature.
        other, _ = blind(contest.public_key, prepare(ballot.encode("utf-8"))[1])
        try:
            retry(lambda: client.request_blind_signature(contest.id, other), out)
            out.problems.append("a second blinded message was signed")
        except ApiError as exc:
            if (exc.status, exc.code) != (409, "already_signed"):
                out.problems.append(f"second blinded message: {exc.status} {exc.code}")
    signature = finalize(contest.public_key, input_msg, blind_sig, inv)
    signed = SignedBallot(contest.id, ballot, msg_prefix, signature)
    retries_before_cast = out.retries
    out.receipt = retry(lambda: client.cast(signed, election=slug), out)
    out.resubmitted = out.retries > retries_before_cast
    if index % 3 == 0:
        out.resubmitted = True
        again_receipt = retry(lambda: client.cast(signed, election=slug), out)
        if again_receipt != out.receipt:
            out.problems.append("the same ballot got another receipt")
    return out


@dataclass
class CrashRun:
    outcomes: list[Outcome]
    chaos: list[str]  # what was killed when
    board: dict[str, set[str]]  # contest id -> ballot hashes, read after the run
    manifest: Manifest


def vote_through_crashes(
    server: Gunicorn, slug: str, voters: Sequence[Voter], threads: int = 16
) -> CrashRun:
    """All ``voters`` vote carefully from ``threads`` threads; at a quarter of them one worker
    is SIGKILLed, at a half the whole server (master and workers), which is then started again.
    """
    transport = RetryTransport()
    done = 0
    done_lock = threading.Lock()
    chaos_log: list[str] = []
    base = server.base_url
    try:
        manifest = VoterClient(base, None, transport=transport).manifest(slug)

        def one(item: tuple[int, Voter]) -> Outcome:
            nonlocal done
            index, voter = item
            client = VoterClient(base, voter.token, transport=transport)
            try:
                out = careful_vote(client, manifest, slug, voter, index)
            except Exception as exc:  # noqa: BLE001 - reported in the outcome
                out = Outcome(voter.member_id, voter.contest, problems=[repr(exc)])
            with done_lock:
                done += 1
            return out

        def chaos() -> None:
            while done < len(voters) // 4:
                time.sleep(0.01)
            chaos_log.append(f"worker {server.kill_worker()} SIGKILLed after {done} voters")
            while done < len(voters) // 2:
                time.sleep(0.01)
            server.kill_all()
            chaos_log.append(f"server SIGKILLed after {done} voters")
            time.sleep(1.0)
            server.start()
            chaos_log.append(f"server restarted after {done} voters")

        chaos_thread = threading.Thread(target=chaos, daemon=True)
        chaos_thread.start()
        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(one, enumerate(voters)))
        chaos_thread.join(120)
        status, raw = retry(
            lambda: transport("GET", f"{base}/api/v1/elections/{slug}/board", {}, None),
            Outcome("board", ""),
        )
        if status != 200:
            raise RuntimeError(f"the board answered HTTP {status}")
        board = {c["id"]: set(c["ballot_hashes"]) for c in json.loads(raw)["contests"]}
    finally:
        transport.close()
    return CrashRun(outcomes, chaos_log, board, manifest)
