"""Configuration: defaults, then the instance file, then ``VOTING_*`` environment variables."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

DEFAULTS: dict[str, object] = {
    "DATABASE_URL": None,  # None: SQLite file under the instance folder
    "SESSION_COOKIE_HTTPONLY": True,
    # None: Secure unless debugging or testing (Flask's own default False would never apply).
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
    "RATELIMIT_LOGIN": "10 per minute;50 per hour",
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
}

# Secrets the app refuses to start without. There is no fallback value for any of them.
REQUIRED_SECRETS = ("SECRET_KEY", "DATA_KEY")


class ConfigError(RuntimeError):
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
