"""The OpenID Connect relying party: the authorization code flow with PKCE, state and nonce.

Authlib does the protocol: discovery, the authorization URL with the S256 code challenge, the
code exchange with client authentication, the provider's JWKS (fetched again when a token names
a key it does not hold, so the provider may rotate keys), and the ID token's signature and
claims through joserfc. What is ours is only the glue: which claims must hold which values, and
keeping the flow's secrets in the session for exactly one use. No JOSE or JWT code is written
here (CONVENTIONS.md, "Your own code").
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.flask_client import OAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from flask import Flask, current_app
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from voting.config import ConfigError
from voting.eid.errors import NotConfigured, SignInFailed

# The Swedish OIDC profile (id.oidc.se): the scope that asks for the personnummer, and its claim.
DEFAULT_SCOPES = "openid https://id.oidc.se/scope/naturalPersonNumber"
DEFAULT_PNR_CLAIM = "https://id.oidc.se/claim/personalIdentityNumber"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
# How long a member may take at the provider (BankID's own limit is a few minutes).
FLOW_SECONDS = 600
FLOW_KEY = "eid_flow"
REGISTRY_NAME = "kongressval_eid"  # Authlib reads <NAME>_* from the config: no such keys exist


@dataclass(frozen=True)
class EidSettings:
    """The provider's settings from the app config (docs/deployment.md, "Swedish eID")."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: str
    acr_values: tuple[str, ...]
    leeway: int
    claim: str
    auth_method: str
    timeout: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EidSettings | None:
        """The settings, or None when no provider is configured."""
        issuer = config.get("EID_ISSUER")
        if not issuer:
            return None
        acr = config.get("EID_ACR_VALUES") or ()
        if isinstance(acr, str):
            acr = tuple(acr.split())
        redirect = config.get("EID_REDIRECT_URI") or (
            str(config.get("BASE_URL") or "").rstrip("/") + "/eid/callback"
        )
        secret = config.get("EID_CLIENT_SECRET") or ""
        key_file = config.get("EID_CLIENT_PRIVATE_KEY_FILE")
        if key_file:
            with open(key_file, encoding="ascii") as pem:
                secret = pem.read()
        return cls(
            issuer=str(issuer),
            client_id=str(config.get("EID_CLIENT_ID") or ""),
            client_secret=str(secret),
            redirect_uri=redirect,
            scopes=str(config.get("EID_SCOPES") or DEFAULT_SCOPES),
            acr_values=tuple(str(a) for a in acr),
            leeway=int(config.get("EID_CLOCK_SKEW_SECONDS", 60)),
            claim=str(config.get("EID_PNR_CLAIM") or DEFAULT_PNR_CLAIM),
            auth_method=str(config.get("EID_TOKEN_AUTH_METHOD") or "client_secret_basic"),
            timeout=float(config.get("EID_HTTP_TIMEOUT", 10)),
        )


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse to start with a provider configured by halves, or spoken to in clear."""
    if config.get("STAFF_REQUIRE_EID") and not config.get("EID_ISSUER"):
        raise ConfigError("STAFF_REQUIRE_EID is on but no eID provider (EID_ISSUER) is configured.")
    settings = EidSettings.from_config(config)
    if settings is None:
        return
    if not settings.client_id:
        raise ConfigError("EID_ISSUER is set but EID_CLIENT_ID is not.")
    if settings.auth_method not in AUTH_METHODS:
        raise ConfigError(f"EID_TOKEN_AUTH_METHOD must be one of {', '.join(AUTH_METHODS)}.")
    if not settings.client_secret:
        raise ConfigError(
            "EID_ISSUER is set but neither EID_CLIENT_SECRET nor EID_CLIENT_PRIVATE_KEY_FILE is."
        )
    # Why https: the discovery document names the keys that sign every identity; fetched in
    # clear it could name an attacker's. Loopback is the one exception (tests, the demo).
    for name, url in (("EID_ISSUER", settings.issuer), ("EID_REDIRECT_URI", settings.redirect_uri)):
        if urlsplit(url).scheme != "https" and not _loopback(url):
            raise ConfigError(f"{name} must be an https URL (http only on loopback).")
    if not 0 <= settings.leeway <= 300:
        raise ConfigError("EID_CLOCK_SKEW_SECONDS must be between 0 and 300.")


def init_app(app: Flask) -> None:
    """Check the settings and register the Authlib client (talks to nobody until first use)."""
    check_config(app.config)
    settings = EidSettings.from_config(app.config)
    state: dict[str, Any] = {"settings": settings, "client": None}
    if settings is not None:
        oauth = OAuth(app)
        kwargs: dict[str, Any] = {
            "scope": settings.scopes,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": settings.auth_method,
            "default_timeout": settings.timeout,
        }
        state["client"] = oauth.register(
            REGISTRY_NAME,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs=kwargs,
            # private_key_jwt (the Sweden Connect profile's client authentication): Authlib
            # signs the assertion with the key in client_secret, audience the token endpoint.
            client_auth_methods=[PrivateKeyJWT()]
            if settings.auth_method == "private_key_jwt"
            else None,
        )
    app.extensions["eid"] = state
    if settings is not None:
        app.after_request(_allow_form_to_provider)


# The pages whose form POSTs to a start route, which answers with a redirect to the provider.
PAGES_WITH_EID_FORM = frozenset({"eid.vote_page", "ballot.ballot_page", "admin.login"})


def _provider_origins() -> list[str]:
    """The origins a sign-in redirects to: the issuer's, and the authorization endpoint's."""
    conf = settings()
    urls = [conf.issuer]
    try:
        urls.append(str(_client().load_server_metadata().get("authorization_endpoint") or ""))
    except PROVIDER_ERRORS:
        current_app.logger.warning("eid: the provider's discovery document could not be read")
    origins = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("https", "http") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return origins


def _allow_form_to_provider(response: Any) -> Any:
    """Let the eID button's form end at the provider (CSP form-action covers the redirect).

    Why only these pages, and only the provider's origin: the app's CSP allows forms to post
    to itself alone; browsers also apply form-action to the redirect that answers the POST.
    """
    from flask import request

    from voting.headers import CSP

    if request.endpoint in PAGES_WITH_EID_FORM and response.mimetype == "text/html":
        extra = " ".join(_provider_origins())
        response.headers["Content-Security-Policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {extra}"
        )
    return response


def settings() -> EidSettings:
    """This app's provider settings; NotConfigured without a provider."""
    value = current_app.extensions["eid"]["settings"]
    if value is None:
        raise NotConfigured()
    return value  # type: ignore[no-any-return]


def configured() -> bool:
    return current_app.extensions["eid"]["settings"] is not None


def _client() -> Any:
    client = current_app.extensions["eid"]["client"]
    if client is None:
        raise NotConfigured()
    return client


# Why these exceptions and no others: the provider's answers (network, HTTP status, JSON, the
# token's JOSE form and claims) fail in these types; anything else is a bug and must surface.
PROVIDER_ERRORS = (requests.RequestException, AuthlibBaseError, JoseError, ValueError, KeyError)


def _metadata(client: Any, issuer: str) -> Mapping[str, Any]:
    try:
        metadata = client.load_server_metadata()
    except PROVIDER_ERRORS as exc:
        raise SignInFailed("provider", exc.__class__.__name__) from exc
    # OpenID Connect Discovery §4.3: the document's issuer must be the one we asked.
    if metadata.get("issuer") != issuer:
        raise SignInFailed("provider", "the discovery document names another issuer")
    return metadata  # type: ignore[no-any-return]


def begin(purpose: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    """The provider's authorization URL, and the flow to keep in the session until the callback.

    A fresh state (CSRF for the callback), nonce (binds the ID token to this browser's flow)
    and PKCE verifier (binds the code to it) each time; ``extra`` (the purpose's own data, such
    as the election) travels in the flow, never to the provider.
    """
    conf = settings()
    client = _client()
    _metadata(client, conf.issuer)
    # Why prompt=login: a provider (or broker) that remembers an earlier sign-in must not hand
    # the next person at a shared computer the previous member's identity without asking.
    params: dict[str, Any] = {
        "nonce": generate_token(32),
        "state": generate_token(32),
        "prompt": "login",
    }
    if conf.acr_values:
        params["acr_values"] = " ".join(conf.acr_values)
    try:
        auth = client.create_authorization_url(conf.redirect_uri, **params)
    except PROVIDER_ERRORS as exc:
        raise SignInFailed("provider", exc.__class__.__name__) from exc
    flow = {
        "state": auth["state"],
        "nonce": auth["nonce"],
        "verifier": auth["code_verifier"],
        "purpose": purpose,
        "started": int(time.time()),
        **extra,
    }
    return auth["url"], flow


def _claims_options(conf: EidSettings, issuer: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        # Why aud explicitly: Authlib's ID token class checks azp, not that aud names us.
        "aud": {"essential": True, "value": conf.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "nonce": {"essential": True},
    }
    if conf.acr_values:
        # The level of assurance asked for must be the one given (an OP may answer another).
        options["acr"] = {"essential": True, "values": list(conf.acr_values)}
    return options


def finish(flow: Mapping[str, Any] | None, args: Mapping[str, str]) -> dict[str, Any]:
    """Check the callback against the flow, exchange the code, and return the ID token's claims.

    Raises SignInFailed with the step that failed. ``flow`` must already be out of the session:
    a flow is used once, whatever the outcome, so neither a state nor a nonce can be replayed.
    """
    conf = settings()
    state = args.get("state") or ""
    if not flow or not isinstance(flow.get("state"), str):
        raise SignInFailed("state", "no sign-in was started in this browser")
    if not hmac.compare_digest(state.encode(), flow["state"].encode()):
        raise SignInFailed("state", "the state does not match")
    if not isinstance(flow.get("started"), int) or time.time() - flow["started"] > FLOW_SECONDS:
        raise SignInFailed("expired")
    if args.get("error"):
        # access_denied is the member's own choice (cancelled at the provider).
        code = "cancelled" if args["error"] == "access_denied" else "provider"
        raise SignInFailed(code, "the provider answered with an error")
    if not args.get("code"):
        raise SignInFailed("provider", "no code in the callback")
    client = _client()
    issuer = _metadata(client, conf.issuer)["issuer"]
    # RFC 9207: a provider that names itself in the answer must name the one we asked (mix-up).
    if "iss" in args and args["iss"] != issuer:
        raise SignInFailed("provider", "the answer names another issuer")
    try:
        token = client.fetch_access_token(
            redirect_uri=conf.redirect_uri, code=args["code"], code_verifier=flow["verifier"]
        )
    except PROVIDER_ERRORS as exc:
        raise SignInFailed("token", exc.__class__.__name__) from exc
    id_token = token.get("id_token") if isinstance(token, Mapping) else None
    if not isinstance(id_token, str):
        # Why refuse: an answer without an ID token proves nothing about who signed in, and
        # Authlib's own helper would then skip the checks without a word.
        raise SignInFailed("id_token", "no ID token in the token response")
    try:
        alg = extract_compact(id_token.encode()).protected.get("alg")
    except PROVIDER_ERRORS as exc:
        raise SignInFailed("id_token", exc.__class__.__name__) from exc
    # Why asymmetric only: "none" proves nothing, and an HMAC would be keyed with our own client
    # secret, which the provider's JWKS does not hold anyway.
    if not isinstance(alg, str) or alg == "none" or alg.startswith("HS"):
        raise SignInFailed("id_token", "the ID token is not signed with a public-key algorithm")
    try:
        claims = client.parse_id_token(
            token,
            nonce=flow["nonce"],
            claims_options=_claims_options(conf, issuer),
            leeway=conf.leeway,
        )
    except PROVIDER_ERRORS as exc:
        raise SignInFailed("id_token", exc.__class__.__name__) from exc
    if claims is None:
        raise SignInFailed("id_token", "no ID token in the token response")
    return dict(claims)


def identity_claim(claims: Mapping[str, Any]) -> str:
    """The personnummer claim's value, as the provider sent it; SignInFailed if absent."""
    value = claims.get(settings().claim)
    if not isinstance(value, str) or not value.strip():
        # Why refuse rather than fall back to another claim: only this one is the register's key.
        raise SignInFailed("claim", "the ID token has no personnummer claim")
    return value
