"""Configuration: defaults, then the instance file, then ``VOTING_*`` environment variables."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

from voting.errors import OperationalError

DEFAULTS: dict[str, object] = {
    "DATABASE_URL": None,  # None: SQLite file under the instance folder
    # The local demo (scripts/serve): the /dev/ pages (mail sink, live TOTP codes), the `voting
    # demo` commands, a cookie without Secure. Only this turns them on, never DEBUG; and the app
    # refuses to start with it on PostgreSQL or with SMTP mail (check_demo).
    "DEMO": False,
    "SESSION_COOKIE_HTTPONLY": True,
    # None: Secure (and HSTS) unless DEMO or TESTING; never decided by DEBUG. Flask's own
    # default False would never apply. False only for plain http, as in the demo.
    "SESSION_COOKIE_SECURE": None,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "kv_session",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    # Why not strict: over HTTPS Flask-WTF would also demand a same-origin Referer, which no
    # browser sends under our Referrer-Policy: no-referrer, so every form would fail behind TLS.
    # The token, bound to the session, plus the SameSite=Lax cookie carry the protection.
    "WTF_CSRF_SSL_STRICT": False,
    "MAX_CONTENT_LENGTH": 3 * 1024 * 1024,  # a 2 MB photo plus the rest of the form
    "MEMBER_IMPORT_MAX_BYTES": 32 * 1024 * 1024,  # staff uploads of the member register
    "BABEL_DEFAULT_LOCALE": "sv",
    "BABEL_DEFAULT_TIMEZONE": "Europe/Stockholm",
    "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).resolve().parent / "translations"),
    "LANGUAGES": ("sv", "en"),
    "RATELIMIT_STORAGE_URI": "memory://",
    # A Redis that stops answering must not hang a request (nor /readyz) for long...
    "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    # ...nor stop the voting: while it is away, each process counts in its own memory.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_HEADERS_ENABLED": True,
    "RATELIMIT_PUBLIC_FORM": "10 per minute;60 per hour",
    "RATELIMIT_LINKS": "30 per minute",
    # The letter code form (/rosta/kod), per address: SECURITY.md, "Voting letters".
    "RATELIMIT_LETTER_CODES": "10 per minute;50 per hour",
    "RATELIMIT_LOGIN": "10 per minute;50 per hour",  # per address
    # Per account, from any address: after 5 failures in a row each attempt waits 2 s, doubling
    # up to 15 minutes; a successful login starts afresh (LoginBackoff).
    "LOGIN_BACKOFF_FREE_FAILURES": 5,
    "LOGIN_BACKOFF_BASE_SECONDS": 2,
    "LOGIN_BACKOFF_MAX_SECONDS": 900,
    "RATELIMIT_BLIND_SIGN": "10 per minute",  # per voter link, never per address
    "MAIL_TRANSPORT": "smtp",  # "smtp" or "sink" (files under MAIL_SINK_DIR)
    "MAIL_SINK_DIR": None,  # None: <instance>/mail-sink
    "MAIL_FROM": "Valberedningen <valberedningen@example.org>",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "SMTP_TIMEOUT": 10,
    "MAIL_MAX_ATTEMPTS": 6,
    "MAIL_RATE_PER_MINUTE": 600,  # shared by all workers with a Redis rate-limit storage; 0 = none
    "MAIL_RECORD_BATCH": 20,  # outcomes per commit; a crash may re-send at most this many
    "BASE_URL": "http://127.0.0.1:5000",
    # Where a member reports that their voter code was used without them (the check page and its
    # guide show them). None: the committee is MAIL_FROM's address; the auditors are named only.
    "CONTACT_COMMITTEE": None,
    "CONTACT_AUDITORS": None,
    # The committee's contact details, in the footer of every page, on the accessibility
    # statement and the privacy notice, and wherever a page says "contact the committee". Not
    # secrets, and no made-up default: an unset one shows as "not set" so that it is noticed.
    "COMMITTEE_CONTACT_NAME": None,  # e.g. "Valberedningen i Distrikt Exempel"
    "COMMITTEE_CONTACT_EMAIL": None,
    "COMMITTEE_CONTACT_PHONE": None,
    # The privacy notice: who is responsible for the personal data (the party district, say),
    # and how many months after the results are published the roll, the voting links and the
    # voter codes are deleted.
    "PRIVACY_CONTROLLER": None,
    "PRIVACY_RETENTION_MONTHS": 12,
    # A voting link is not moved to a changed address (two committee members) this close to the
    # close of voting: the member must have time to see the notice and object.
    "LINK_MOVE_CUTOFF_HOURS": 24,
    # Inner postal envelopes opened before the close go in batches of at least this many, so
    # that no single paper vote can be traced to the envelope just confirmed.
    "POSTAL_BATCH_MIN": 20,
    "NOMINATION_CONFIRM_HOURS": 48,
    "NOMINEE_LINK_DAYS": 30,
    "ADMIN_SESSION_MINUTES": 60,
    "CONTEST_KEY_BITS": 3072,
    # How many proxies in front set each X-Forwarded-* header (0: trust none). Behind one
    # nginx: PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1, PROXY_FIX_X_HOST=1. See docs/deployment.md.
    "PROXY_FIX_X_FOR": 0,
    "PROXY_FIX_X_PROTO": 0,
    "PROXY_FIX_X_HOST": 0,
    "PROXY_FIX_X_PORT": 0,
    "PROXY_FIX_X_PREFIX": 0,
    "OUTAGE_RETRY_AFTER": 5,  # seconds, in Retry-After while the database is unreachable
    # Swedish eID through OpenID Connect (docs/deployment.md, "Swedish eID"). Off without an
    # issuer. The provider is found by discovery at EID_ISSUER/.well-known/openid-configuration.
    "EID_ISSUER": None,
    "EID_CLIENT_ID": None,
    "EID_CLIENT_SECRET": None,  # or EID_CLIENT_PRIVATE_KEY_FILE with private_key_jwt
    "EID_CLIENT_PRIVATE_KEY_FILE": None,
    "EID_TOKEN_AUTH_METHOD": "client_secret_basic",  # or client_secret_post, private_key_jwt
    "EID_REDIRECT_URI": None,  # None: BASE_URL + "/eid/callback"; register exactly this
    "EID_SCOPES": "openid https://id.oidc.se/scope/naturalPersonNumber",
    "EID_ACR_VALUES": None,  # e.g. "http://id.elegnamnden.se/loa/1.0/loa3": asked and required
    "EID_PNR_CLAIM": "https://id.oidc.se/claim/personalIdentityNumber",
    "EID_CLOCK_SKEW_SECONDS": 60,  # allowance on the ID token's exp and iat
    "EID_HTTP_TIMEOUT": 10,  # seconds, for each call to the provider
    "STAFF_REQUIRE_EID": False,  # True: staff sign in with eID only (no password form)
}

# Secrets the app refuses to start without. There is no fallback value for any of them.
REQUIRED_SECRETS = ("SECRET_KEY", "DATA_KEY")


class ConfigError(OperationalError):
    """The configuration is missing a secret or holds a bad value."""


def check_secrets(config: dict[str, object]) -> None:
    """Refuse to run without real secrets; explain which one is missing and how to make it."""
    for name in REQUIRED_SECRETS:
        value = config.get(name)
        if not value or not isinstance(value, str | bytes):
            raise ConfigError(
                f"{name} is not set. Set VOTING_{name} in the environment or in the instance "
                "config (for example: python -c 'import secrets,base64;"
                "print(base64.b64encode(secrets.token_bytes(32)).decode())')."
            )
    if len(str(config["SECRET_KEY"])) < 32:
        raise ConfigError("SECRET_KEY is shorter than 32 characters.")
    try:
        key = base64.b64decode(str(config["DATA_KEY"]), validate=True)
    except ValueError as exc:
        raise ConfigError("DATA_KEY must be base64 of 32 random bytes.") from exc
    if len(key) != 32:
        raise ConfigError("DATA_KEY must be base64 of exactly 32 random bytes.")


def check_demo(config: dict[str, object], database_url: str) -> None:
    """Refuse DEMO anywhere but a local demo: SQLite and the mail sink.

    Why: the demo shows every mail (one-time links included) and the staff's live TOTP codes at
    /dev/; on a real database or with real mail that is everyone's vote and every account.
    """
    if not config.get("DEMO"):
        return
    if not database_url.startswith("sqlite"):
        raise ConfigError(
            "DEMO is on but the database is not SQLite; the demo runs only on SQLite. "
            "Turn DEMO (VOTING_DEMO) off."
        )
    if config.get("MAIL_TRANSPORT") != "sink":
        raise ConfigError(
            "DEMO is on but MAIL_TRANSPORT is not 'sink'; the demo never sends real mail. "
            "Turn DEMO (VOTING_DEMO) off."
        )
