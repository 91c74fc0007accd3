"""eID fixtures: a real OpenID provider on loopback, elections in each sign-in mode, members with
personnummer, and a misbehaving provider for the attacks.

The provider is panva's certified ``oidc-provider`` (npm, a devDependency) run by
``scripts/eid-test-provider.mjs``. Without node or ``npm ci`` the tests that need it skip, and
fail with REQUIRE_BROWSER=1 (CI), like the browser tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.ballot.conftest import setup_voting
from tests.conftest import Clock, app_on
from voting.crypto import encrypt, keyed_hash
from voting.db import db
from voting.elections.services import get_election, set_sign_in
from voting.members.models import Member
from voting.members.pnr import make_personnummer
from voting.members.services import PNR_LOOKUP_PURPOSE, PNR_PURPOSE

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "eid-test-provider.mjs"
NODE = shutil.which("node")
CLIENT_ID = "kongressval-test"
CLIENT_SECRET = "test-secret-" + "x" * 32
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"

# Personnummer of the members setup_voting makes, and of two people not on the roll.
PNR = {
    "S1": make_personnummer(date(1970, 3, 1), 123),
    "S2": make_personnummer(date(1985, 7, 14), 456),
    "S3": make_personnummer(date(1990, 12, 3), 42, coordination=True),
    "B1": make_personnummer(date(1960, 1, 31), 789),
}
STRANGER = make_personnummer(date(1999, 9, 9), 321)  # in no register
OFF_ROLL_MEMBER = "X1"  # a member of the register, added after the roll froze
OFF_ROLL_PNR = make_personnummer(date(1975, 5, 5), 555)


def provider_skip_reason() -> str | None:
    if NODE is None:
        return "node is not installed: the test OpenID provider cannot run"
    if not (ROOT / "node_modules" / "oidc-provider").is_dir():
        return "node_modules/oidc-provider is missing: run `npm ci` (scripts/test does)"
    return None


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[str]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_provider(redirect_uris: list[str], acr: str = LOA3) -> Provider:
    """Start the test provider with our client registered for ``redirect_uris``."""
    reason = provider_skip_reason()
    if reason:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    assert NODE is not None
    config = {
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": redirect_uris,
            }
        ],
        "acr": acr,
    }
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [NODE, str(SCRIPT), json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(5)
        raise AssertionError("the test OpenID provider did not start")
    return Provider(json.loads(line)["issuer"], process)


def eid_config(issuer: str, redirect_uri: str, **extra: Any) -> dict[str, Any]:
    return {
        "EID_ISSUER": issuer,
        "EID_CLIENT_ID": CLIENT_ID,
        "EID_CLIENT_SECRET": CLIENT_SECRET,
        "EID_REDIRECT_URI": redirect_uri,
        "EID_ACR_VALUES": LOA3,
        **extra,
    }


TEST_REDIRECT = "http://localhost/eid/callback"


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Provider]:
    """The real provider, our client registered for the test client's callback: one for the
    worker's tests (starting node and the provider costs half a second of CPU). Each test signs
    in with a client and cookies of its own, so no test sees another's sign-in."""
    provider = start_provider([TEST_REDIRECT])
    yield provider
    provider.stop()


@pytest.fixture
def eid_app(
    request: pytest.FixtureRequest,
    database_url: str,
    clock: Clock,
    _smtp_server: Any,
    tmp_path: Path,
    oidc_provider: Provider,
) -> Iterator[Flask]:
    """The app (test client) with the real provider configured."""
    config = eid_config(oidc_provider.issuer, TEST_REDIRECT)
    with app_on(request, database_url, clock, _smtp_server.port, tmp_path, **config) as app:
        yield app


def give_personnummer(app: Flask, clock: Clock) -> None:
    """Register the personnummer of PNR, and a member X1 who is not on the roll."""
    with db.transaction() as s:
        for member_id, pnr in PNR.items():
            member = s.get_one(Member, member_id)
            member.personnummer_lookup = keyed_hash(pnr, PNR_LOOKUP_PURPOSE)
            member.personnummer_enc = encrypt(pnr.encode(), PNR_PURPOSE, aad=member_id.encode())
        s.add(
            Member(
                member_id=OFF_ROLL_MEMBER,
                first_name="Xena",
                last_name="Sen",
                email="x1@example.org",
                krets_code="SODERMALM",
                personnummer_lookup=keyed_hash(OFF_ROLL_PNR, PNR_LOOKUP_PURPOSE),
                updated_at=clock(),
            )
        )


def eid_election(app: Flask, clock: Clock, rsa_keys: Any, base_url: str, mode: str) -> Any:
    """setup_voting's election (voting open), members with personnummer, in sign-in ``mode``."""
    setup = setup_voting(app, clock, rsa_keys, base_url)
    give_personnummer(app, clock)
    if mode != "link":
        with db.transaction() as s:
            election = get_election(s, setup.slug)
            # Straight to the row: the service refuses once voting has opened (tested apart).
            election.sign_in = mode
    return setup


def set_mode_before_voting(slug: str, mode: str, now: Any) -> None:
    with db.transaction() as s:
        set_sign_in(s, get_election(s, slug), mode, now, by="cli")


def provider_login(auth_url: str, personnummer: str, redirect_uri: str) -> dict[str, str]:
    """Walk the provider's pages as a browser would; return the callback's query parameters."""
    http = requests.Session()
    url = auth_url
    for _ in range(10):
        response = http.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and 'name="pnr"' in response.text:
            action = response.text.split('action="', 1)[1].split('"', 1)[0]
            response = http.post(
                urljoin(url, action), data={"pnr": personnummer}, allow_redirects=False, timeout=10
            )
        assert response.status_code in (302, 303), response.text[:500]
        url = urljoin(url, response.headers["Location"])
        if url.startswith(redirect_uri):
            return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    raise AssertionError("the provider never redirected back")


def sign_in(client: FlaskClient, start_path: str, personnummer: str, **form: str) -> Any:
    """POST to a start route, log in at the provider, and follow the callback; the response."""
    start = client.post(start_path, data=form)
    assert start.status_code == 302, start.get_data(as_text=True)[:500]
    params = provider_login(start.headers["Location"], personnummer, TEST_REDIRECT)
    return client.get("/eid/callback", query_string=params)


def voter_session(client: FlaskClient) -> dict[str, Any]:
    with client.session_transaction() as cookie:
        return dict(cookie)


# --- A provider that misbehaves on request ---------------------------------------------------


class RogueProvider:
    """A minimal OpenID provider on loopback whose ID tokens the test shapes (attacks).

    It checks PKCE and the client secret like a real one, and signs with joserfc keys it holds;
    ``shape(claims, header)`` may change the claims, the header or the key (``self.sign_with``).
    """

    def __init__(self) -> None:
        from joserfc.jwk import RSAKey
        from werkzeug.serving import make_server

        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.published = [self.key]
        self.sign_with = self.key
        self.shape: Any = None
        self.codes: dict[str, dict[str, str]] = {}
        self.issued: list[str] = []
        self.replay: str | None = None  # an ID token to answer with instead of a fresh one
        self.omit_id_token = False
        self.jwks_fetches = 0
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(  # a short poll, for a quick shutdown (see LiveServer)
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)

    def claims(self, nonce: str) -> dict[str, Any]:
        import time

        now = int(time.time())
        return {
            "iss": self.issuer,
            "sub": "rogue-subject",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "acr": LOA3,
            "https://id.oidc.se/claim/personalIdentityNumber": PNR["S1"],
        }

    def wsgi(self, environ: Any, start_response: Any) -> Any:
        import base64
        import hashlib
        import secrets

        from joserfc import jwt
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        path = request.path
        if path == "/.well-known/openid-configuration":
            body: Any = {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        elif path == "/jwks":
            self.jwks_fetches += 1
            body = {"keys": [k.as_dict(private=False) for k in self.published]}
        elif path == "/authorize":
            args = request.args
            code = secrets.token_urlsafe(16)
            self.codes[code] = dict(args)
            target = f"{args['redirect_uri']}?code={code}&state={args['state']}"
            return Response(status=302, headers={"Location": target})(environ, start_response)
        elif path == "/token":
            form = request.form
            auth = request.authorization
            request_ = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if (
                request_ is None
                or auth is None
                or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET)
                or request_.get("code_challenge") != challenge
                or request_.get("code_challenge_method") != "S256"
            ):
                response = Response(json.dumps({"error": "invalid_grant"}), status=400)
                response.content_type = "application/json"
                return response(environ, start_response)
            claims = self.claims(request_["nonce"])
            header = {"alg": "RS256", "kid": self.sign_with.kid}
            key = self.sign_with
            if self.shape is not None:
                claims, header, key = self.shape(claims, header, key)
            if self.replay is not None:
                id_token = self.replay
            elif header.get("alg") == "none":
                segments = [
                    base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
                    for part in (header, claims)
                ]
                id_token = ".".join(segments) + "."
            else:
                id_token = jwt.encode(header, claims, key)
            self.issued.append(id_token)
            body = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer"}
            if not self.omit_id_token:
                body["id_token"] = id_token
        else:
            return Response(status=404)(environ, start_response)
        response = Response(json.dumps(body))
        response.content_type = "application/json"
        return response(environ, start_response)


@pytest.fixture
def rogue() -> Iterator[RogueProvider]:
    provider = RogueProvider()
    yield provider
    provider.stop()


@pytest.fixture
def rogue_app(
    request: pytest.FixtureRequest,
    database_url: str,
    clock: Clock,
    _smtp_server: Any,
    tmp_path: Path,
    rogue: RogueProvider,
) -> Iterator[Flask]:
    config = eid_config(rogue.issuer, TEST_REDIRECT)
    with app_on(request, database_url, clock, _smtp_server.port, tmp_path, **config) as app:
        yield app


def rogue_callback(client: FlaskClient, start_path: str, **form: str) -> tuple[Any, dict[str, str]]:
    """Start a sign-in and get the rogue's redirect back (not yet followed): (response, params)."""
    start = client.post(start_path, data=form)
    assert start.status_code == 302, start.get_data(as_text=True)[:500]
    answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    params = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
    return answer, params


def member_ids(session: Any) -> list[str]:
    return list(session.scalars(select(Member.member_id)))
