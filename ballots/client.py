"""A reference voter client for the HTTP API: canonical ballot, blind, sign, finalize, cast.

Standard library HTTP only (``urllib.request``); the transport is a plain callable so tests,
the load benchmark and ``voting vote`` can drive it with or without a server.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from ballots.ballot import (
    b64url_decode,
    b64url_encode,
    ballot_hash,
    canonical_ballot,
    new_nonce,
    parse_ballot,
)
from ballots.blindrsa import RandomBytes, blind, finalize, load_public_key_spki, prepare
from ballots.errors import ApiError, ClientError
from ballots.rules import SelectionRule, SelectionRuleError, holds_vote

__all__ = [
    "Candidate",
    "Contest",
    "Manifest",
    "SignedBallot",
    "Transport",
    "VoterClient",
    "b64url_decode",
    "b64url_encode",
    "parse_contest",
    "parse_manifest",
    "urllib_transport",
]

Transport = Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, bytes]]
"""``transport(method, url, headers, body) -> (status, body)``; HTTP errors are answers."""

# Answers worth asking again with the very same request: the server or a proxy in front of it
# was briefly unable to answer (a restarting worker, a database away: 503).
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def urllib_transport(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """Send one request with urllib; a 4xx/5xx answer is returned, not raised."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise ClientError(f"url: only http and https are allowed, not {url!r}")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


@dataclass(frozen=True)
class Candidate:
    """A candidate as the manifest lists it."""

    id: str
    name: str


@dataclass(frozen=True)
class Contest:
    """A contest (one krets) as the manifest lists it, with its parsed public key."""

    id: str
    rule: SelectionRule
    public_key: rsa.RSAPublicKey
    candidates: tuple[Candidate, ...]
    krets: Mapping[str, Any] = field(default_factory=dict)

    @property
    def candidate_ids(self) -> frozenset[str]:
        """The ids a ballot of this contest may name."""
        return frozenset(candidate.id for candidate in self.candidates)


@dataclass(frozen=True)
class Manifest:
    """An election's manifest: its slug and the raw JSON it came from.

    Only the contest a voter asks for is parsed (``contest``): a contest the voter does not
    vote in may have any shape the record format allows, and must not stop them.
    """

    election: str
    raw: Mapping[str, Any]

    def contest(self, contest_id: str) -> Contest:
        """The contest with this id, parsed; ClientError when the manifest has none."""
        for item in self.raw["contests"]:
            if isinstance(item, Mapping) and str(item.get("id")) == str(contest_id):
                return parse_contest(item)
        raise ClientError(f"contest_id: {contest_id!r} is not in the manifest of {self.election}")


def _decode_spki(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ClientError("manifest: public_key_spki must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ClientError("manifest: public_key_spki is not base64") from None


def parse_contest(item: Mapping[str, Any]) -> Contest:
    """Read the fields the client needs from one contest of a manifest."""
    try:
        rule = SelectionRule.build(
            seats=item["seats"],
            min_selections=item.get("min_selections"),
            max_selections=item.get("max_selections"),
        )
        candidates = tuple(
            Candidate(id=str(candidate["id"]), name=str(candidate.get("name", "")))
            for candidate in item["candidates"]
        )
        contest = Contest(
            id=str(item["id"]),
            rule=rule,
            public_key=load_public_key_spki(_decode_spki(item["public_key_spki"])),
            candidates=candidates,
            krets=item.get("krets") or {},
        )
    except (KeyError, TypeError, AttributeError, SelectionRuleError) as exc:
        raise ClientError(f"manifest: unexpected shape ({exc.__class__.__name__}: {exc})") from None
    if not holds_vote(rule.seats, len(candidates)):
        # Why refuse here: the server refuses to sign in such a contest, and a member must learn
        # why before spending anything on it.
        raise ClientError(
            f"contest {contest.id}: no vote is held, its candidates are elected without one"
        )
    return contest


def parse_manifest(slug: str, data: Any) -> Manifest:
    """Check a manifest JSON object's outline; its contests are parsed one at a time."""
    if not isinstance(data, Mapping) or not isinstance(data.get("contests"), list):
        raise ClientError("manifest: unexpected shape (no list of contests)")
    return Manifest(election=slug, raw=data)


@dataclass(frozen=True)
class SignedBallot:
    """A ballot with its RFC 9474 signature, ready to cast (and to cast again after a failure)."""

    contest_id: str
    ballot: str
    msg_prefix: bytes
    signature: bytes

    @property
    def ballot_hash(self) -> str:
        """Hex SHA-256 of ``msg_prefix || ballot``, as the receipt and the board show it."""
        return ballot_hash(self.msg_prefix, self.ballot.encode("utf-8"))

    def body(self) -> dict[str, str]:
        """The JSON body of ``POST /api/v1/contests/<id>/ballots``."""
        return {
            "ballot": self.ballot,
            "msg_prefix": b64url_encode(self.msg_prefix),
            "signature": b64url_encode(self.signature),
        }


class VoterClient:
    """One voter's client: ``token`` is the secret from the emailed link."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        transport: Transport = urllib_transport,
        rng: RandomBytes = secrets.token_bytes,
        manifests: dict[str, Manifest] | None = None,
        retries: int = 0,
        retry_wait: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._transport = transport
        self._rng = rng
        # How often a lost or transient answer is asked for again, with the SAME request: the
        # same blinded message (the server answers it with the same signature) or the same
        # signed ballot (the same receipt). Waits retry_wait, doubling each time.
        self.retries = retries
        self.retry_wait = retry_wait
        self._sleep = sleep
        # Many voters of one election may share one dict: the manifest is public and fixed.
        self._manifests: dict[str, Manifest] = {} if manifests is None else manifests

    def _url(self, *parts: str) -> str:
        return self.base_url + "/api/v1/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)

    def _call(
        self, method: str, url: str, body: Mapping[str, Any] | None, *, bearer: bool
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        if bearer:
            if not self.token:
                raise ClientError("token: this request needs the token from the voting link")
            headers["Authorization"] = f"Bearer {self.token}"
        status, raw = self._send(method, url, headers, payload)
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            if status >= 400:  # e.g. a proxy's HTML error page
                raise ApiError(status, "http_error", "the answer is not JSON") from None
            raise ClientError(f"HTTP {status} from {url}: the answer is not JSON") from None
        if status >= 400:
            error = data if isinstance(data, dict) else {}
            raise ApiError(
                status, str(error.get("error", "http_error")), str(error.get("message", ""))
            )
        return status, data

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], payload: bytes | None
    ) -> tuple[int, bytes]:
        """One request, asked again unchanged after a lost answer or a transient status."""
        wait = self.retry_wait
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                status, raw = self._transport(method, url, headers, payload)
            except (OSError, http.client.HTTPException) as exc:
                if last:
                    raise ClientError(
                        f"{method} {url}: no answer ({exc.__class__.__name__}: {exc})"
                    ) from exc
            else:
                if status not in TRANSIENT_STATUS or last:
                    return status, raw
            self._sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def manifest(self, slug: str) -> Manifest:
        """Fetch (once) and parse ``GET /api/v1/elections/<slug>/manifest``."""
        if slug not in self._manifests:
            _, data = self._call(
                "GET", self._url("elections", slug, "manifest"), None, bearer=False
            )
            self._manifests[slug] = parse_manifest(slug, data)
        return self._manifests[slug]

    def voter(self) -> dict[str, Any]:
        """``GET /api/v1/voter`` with the link token: the voter's election, contest and status."""
        _, data = self._call("GET", self._url("voter"), None, bearer=True)
        if not isinstance(data, dict) or not {"election", "contest"} <= data.keys():
            raise ClientError("voter: the answer has no election and contest")
        return data

    def request_blind_signature(self, contest_id: str, blinded_msg: bytes) -> bytes:
        """``POST /api/v1/contests/<id>/blind-sign`` with the link token; the blind signature."""
        _, data = self._call(
            "POST",
            self._url("contests", str(contest_id), "blind-sign"),
            {"blinded_msg": b64url_encode(blinded_msg)},
            bearer=True,
        )
        if not isinstance(data, dict):
            raise ClientError("blind-sign: the answer is not a JSON object")
        blind_sig = data.get("blind_sig")
        if not isinstance(blind_sig, str):
            raise ClientError("blind-sign: the answer has no blind_sig")
        return b64url_decode(blind_sig, field="blind_sig")

    def sign_ballot(self, slug: str, contest_id: str, choices: Sequence[str]) -> SignedBallot:
        """Build the canonical ballot, blind it, have it signed and finalize the signature."""
        contest = self.manifest(slug).contest(contest_id)
        ballot = canonical_ballot(slug, contest.id, list(choices), new_nonce(self._rng))
        # Why: the member gets one signature per contest, ever; a ballot the server would refuse
        # must be caught here, before that signature is spent on it.
        parse_ballot(
            ballot,
            election=slug,
            contest=contest.id,
            candidate_ids=contest.candidate_ids,
            rule=contest.rule,
        )
        msg_prefix, input_msg = prepare(ballot.encode("utf-8"), self._rng)
        blinded_msg, inv = blind(contest.public_key, input_msg, self._rng)
        blind_sig = self.request_blind_signature(contest.id, blinded_msg)
        # finalize verifies: a bad answer from the server raises InvalidSignature here.
        signature = finalize(contest.public_key, input_msg, blind_sig, inv)
        return SignedBallot(contest.id, ballot, msg_prefix, signature)

    def cast(self, signed: SignedBallot, *, election: str | None = None) -> dict[str, Any]:
        """``POST /api/v1/contests/<id>/ballots`` anonymously; the checked receipt.

        Safe to repeat with the same SignedBallot after a lost connection: the server answers an
        identical submission with the same receipt.
        """
        # Why bearer=False: the cast must carry nothing that links it to the signing request.
        status, data = self._call(
            "POST", self._url("contests", signed.contest_id, "ballots"), signed.body(), bearer=False
        )
        receipt = data.get("receipt") if isinstance(data, dict) else None
        if status not in {200, 201} or not isinstance(receipt, dict):
            raise ClientError(f"cast: expected a receipt with 201 or 200, got HTTP {status}")
        expected = {"ballot_hash": signed.ballot_hash, "contest": signed.contest_id}
        if election is not None:
            expected["election"] = election
        for key, value in expected.items():
            if receipt.get(key) != value:
                raise ClientError(f"receipt: {key} is {receipt.get(key)!r}, expected {value!r}")
        return receipt

    def vote(self, slug: str, contest_id: str, choices: Sequence[str]) -> dict[str, Any]:
        """Sign and cast one ballot; return the receipt."""
        signed = self.sign_ballot(slug, contest_id, choices)
        return self.cast(signed, election=slug)
