"""The Flask application: ``create_app`` wires config, database, extensions and blueprints."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, render_template_string, request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from voting.config import DEFAULTS, check_demo, check_secrets
from voting.db import OUTAGE_ERRORS as OUTAGE_ERRORS  # re-exported for the health checks
from voting.db import ROOT, is_outage, utcnow
from voting.db import db as database


def _checkout_instance_path() -> str | None:
    return str(ROOT / "instance") if (ROOT / "pyproject.toml").is_file() else None


def create_app(config: Mapping[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the app: defaults, then ``instance/config.py``, then ``VOTING_*`` env, then ``config``.

    It has no side effects: it neither creates tables nor migrates.
    """
    app = Flask(
        __name__,
        # VOTING_INSTANCE_PATH: where a deployment keeps instance/config.py (docs/deployment.md).
        # Without it: instance/ in a source checkout, Flask's <prefix>/var/voting-instance in an
        # installed package. Templates, static files and translations ship inside the package.
        instance_path=instance_path
        or os.environ.get("VOTING_INSTANCE_PATH")
        or _checkout_instance_path(),
        instance_relative_config=True,
    )
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("VOTING")
    if config:
        app.config.from_mapping(config)
    app.config.setdefault("CLOCK", utcnow)
    # Why DEMO and never DEBUG: VOTING_DEBUG=true or DEBUG in an instance file turns debug on
    # under gunicorn too, and must not bring the /dev/ pages or a cookie without Secure with it.
    app.config["DEMO"] = bool(app.config["DEMO"])
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = not (app.config["DEMO"] or app.testing)
    check_secrets(app.config)
    check_demo(app.config, app.config.get("DATABASE_URL") or "sqlite:")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _trust_proxies(app)

    from voting import error_pages, headers, logredact, privacy
    from voting.extensions import babel, csrf, limiter, select_locale

    database.init_app(app)
    # Before the limiter: Flask runs after-request functions last-registered first, and the
    # 503's Retry-After must be set after the limiter has put its own on the response.
    _handle_database_outage(app)
    error_pages.init_app(app)  # before the blueprints: it sets the converter their rules use
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    headers.init_app(app)
    privacy.init_app()
    logredact.init_app()  # tokens and receipt lookups out of request logs (SECURITY.md)

    from voting.admin.views import bp as admin_bp
    from voting.audit.views import bp as audit_bp
    from voting.ballot.views import api as api_bp
    from voting.ballot.views import bp as ballot_bp
    from voting.eid import oidc as eid_oidc
    from voting.eid.views import bp as eid_bp
    from voting.letters.views import admin_bp as letters_admin_bp
    from voting.letters.views import bp as letters_bp
    from voting.members.views import bp as members_bp
    from voting.nominations.views import bp as nominations_bp
    from voting.postal.views import bp as postal_admin_bp
    from voting.public.views import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(nominations_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(members_bp)
    app.register_blueprint(ballot_bp)
    app.register_blueprint(letters_bp)
    app.register_blueprint(letters_admin_bp)
    app.register_blueprint(postal_admin_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(audit_bp)
    eid_oidc.init_app(app)  # Swedish eID (OpenID Connect): checks its settings, talks to nobody
    app.register_blueprint(eid_bp)
    if app.config["DEMO"]:
        from voting.dev.views import bp as dev_bp

        app.register_blueprint(dev_bp)

    from voting.admin.services import load_user
    from voting.web import say

    app.jinja_env.globals["say"] = say  # an error's text in the reader's language (macros too)

    @app.before_request
    def _load_user() -> None:
        g.user = load_user(database.session, session, app.config["CLOCK"]())

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from flask_babel import get_locale

        return {"current_locale": str(get_locale()), "now": app.config["CLOCK"]()}

    _handle_csrf_failure(app)
    _handle_rate_limit(app)

    from voting.cli import register

    register(app)
    return app


PROXY_HEADERS = ("for", "proto", "host", "port", "prefix")


def _trust_proxies(app: Flask) -> None:
    """Honour ``X-Forwarded-*`` from as many proxies as ``PROXY_FIX_X_*`` says; none by default.

    Why off by default: a client can send any X-Forwarded-For it likes. Trusting it without a
    proxy in front would let anyone pick the address the rate limits count against.
    """
    counts = {
        name: int(app.config.get(f"PROXY_FIX_X_{name.upper()}") or 0) for name in PROXY_HEADERS
    }
    if any(counts.values()):
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, **{f"x_{name}": count for name, count in counts.items()}
        )


MESSAGE_PAGE = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block content %}<h1>{{ title }}</h1><p>{{ text }}</p>{% endblock %}"""


def _handle_database_outage(app: Flask) -> None:
    """Answer 503 with Retry-After, not 500, while the database cannot be reached."""

    def unavailable(exc: sa_exc.SQLAlchemyError) -> Response:
        from flask_babel import gettext as _

        if not is_outage(exc):
            raise exc  # a bug or a refused write: Flask answers 500 and logs it, as unhandled
        # The class name only: a driver's message can hold the host, user or SQL.
        app.logger.warning("database unavailable: %s", exc.__class__.__name__)
        # Why first: the session holds a broken connection, and nothing below may touch it.
        # The page is made without the staff user (loaded through that session) as well.
        database.remove()
        g.user = None
        message = _("Tjänsten är tillfälligt otillgänglig. Försök igen om en stund.")
        if (
            request.path.startswith("/api/")
            or request.path in ("/healthz", "/readyz")
            or (request.accept_mimetypes.best == "application/json")
        ):
            body = {"status": "unavailable", "error": "unavailable", "message": message}
            response = jsonify(body)
        else:
            title = _("Tillfälligt otillgänglig")
            response = Response(
                render_template_string(MESSAGE_PAGE, title=title, text=message),
                mimetype="text/html",
            )
        response.status_code = 503
        return response  # Retry-After: see below

    app.register_error_handler(sa_exc.SQLAlchemyError, unavailable)

    @app.after_request
    def _retry_after(response: Response) -> Response:
        # Why here and on every 503: a rate-limited endpoint's response also gets Flask-Limiter's
        # Retry-After (the end of the limit's window, up to a minute away), which would hold a
        # voter's page back far longer than the outage needs.
        if response.status_code == 503:
            response.headers["Retry-After"] = str(app.config["OUTAGE_RETRY_AFTER"])
        return response


def _handle_csrf_failure(app: Flask) -> None:
    """A form whose CSRF token is missing or stale gets a page in the visitor's language."""

    def refused(exc: CSRFError) -> Response:
        from flask_babel import gettext as _

        from voting.error_pages import message_page

        title = _("Sidan har gått ut")
        text = _(
            "Formuläret kunde inte skickas, eftersom sidan var för gammal eller öppnades i en "
            "annan webbläsare. Gå tillbaka, ladda om sidan och försök igen."
        )
        return message_page(title, text, 400)

    app.register_error_handler(CSRFError, refused)


def _handle_rate_limit(app: Flask) -> None:
    """Too many tries: a page in the visitor's language (JSON on the API), with Retry-After."""

    def too_many(exc: TooManyRequests) -> Response:
        from flask_babel import gettext as _

        from voting.error_pages import message_page

        text = _("Du har försökt för många gånger på kort tid. Vänta en minut och försök igen.")
        if request.path.startswith("/api/"):
            response = jsonify(error="rate_limited", message=text)
        else:
            response = message_page(_("För många försök"), text, 429)
        response.status_code = 429
        # Flask-Limiter's own headers (Retry-After when configured) are added after this.
        response.headers.setdefault("Retry-After", "60")
        return response

    app.register_error_handler(TooManyRequests, too_many)
