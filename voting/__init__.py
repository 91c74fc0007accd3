"""The Flask application: ``create_app`` wires config, database, extensions and blueprints."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, session

from voting.config import DEFAULTS, check_secrets
from voting.db import ROOT, utcnow
from voting.db import db as database


def create_app(config: Mapping[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the app: defaults, then ``instance/config.py``, then ``VOTING_*`` env, then ``config``.

    It has no side effects: it neither creates tables nor migrates.
    """
    app = Flask(
        __name__,
        instance_path=instance_path or str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("VOTING")
    if config:
        app.config.from_mapping(config)
    app.config.setdefault("CLOCK", utcnow)
    app.config["SESSION_COOKIE_SECURE"] = app.config.get(
        "SESSION_COOKIE_SECURE", not (app.debug or app.testing)
    )
    check_secrets(app.config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from voting import headers, privacy
    from voting.extensions import babel, csrf, limiter, select_locale

    database.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    headers.init_app(app)
    privacy.init_app()

    from voting.admin.views import bp as admin_bp
    from voting.audit.views import bp as audit_bp
    from voting.ballot.views import api as api_bp
    from voting.ballot.views import bp as ballot_bp
    from voting.members.views import bp as members_bp
    from voting.nominations.views import bp as nominations_bp
    from voting.public.views import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(nominations_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(members_bp)
    app.register_blueprint(ballot_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(audit_bp)
    if app.debug:
        from voting.dev.views import bp as dev_bp

        app.register_blueprint(dev_bp)

    from voting.admin.services import load_user

    @app.before_request
    def _load_user() -> None:
        g.user = load_user(database.session, session, app.config["CLOCK"]())

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from flask_babel import get_locale

        return {"current_locale": str(get_locale()), "now": app.config["CLOCK"]()}

    from voting.cli import register

    register(app)
    return app
