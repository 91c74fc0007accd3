"""Flask extensions, created unbound and wired in by ``create_app``."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
babel = Babel()


def select_locale() -> str:
    """The language the member picked (``?lang=``, kept in the session), else Swedish."""
    if not has_request_context():  # the CLI and workers speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang")
    if chosen is not None and chosen in languages:
        session["lang"] = chosen
        return chosen
    stored = session.get("lang")
    if isinstance(stored, str) and stored in languages:
        return stored
    return current_app.config["BABEL_DEFAULT_LOCALE"]
