"""Error answers: a page in the visitor's language with a way back, JSON on the API.

Also the two guards that keep odd URLs from reaching the database as driver errors: row ids in
URLs are bounded, and a NUL in the path or query string is refused.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, g, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from voting.auth import wants_json
from voting.db import MAX_ID

# The code the API answers with for each status; other statuses answer "http_<status>".
API_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal_error",
}


class IdConverter(IntegerConverter):
    """``<int:…>`` in this app: a row id, ASCII digits up to MAX_ID; anything else is a 404."""

    # Why: Werkzeug's "\\d+" also takes other scripts' digits, and an id past PostgreSQL's
    # INTEGER reached the database and came back as a 500 ("integer out of range").
    regex = r"[0-9]+"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _messages(status: int) -> tuple[str, str]:
    """The page's title and text for ``status``, in the visitor's language."""
    if status == 400:
        return _("Felaktig förfrågan"), _(
            "Adressen eller det du skickade innehöll något som inte går att läsa. Kontrollera "
            "adressen och försök igen."
        )
    if status == 403:
        return _("Ingen behörighet"), _("Du har inte behörighet att se den här sidan.")
    if status == 404:
        return _("Sidan finns inte"), _(
            "Sidan finns inte, eller är inte publicerad än. Kontrollera adressen."
        )
    if status == 405:
        return _("Sidan kan inte användas så"), _(
            "Sidan finns, men går inte att öppna eller skicka till på det sättet."
        )
    if status == 413:
        return _("För stort"), _("Det du skickade är för stort för att tas emot.")
    if status >= 500:
        return _("Något gick fel"), _("Ett oväntat fel uppstod. Försök igen om en stund.")
    return _("Sidan kunde inte visas"), _("Sidan kunde inte visas. Försök igen.")


def message_page(title: str, text: str, status: int) -> Response:
    """A page with the site's header, ``title``, ``text`` and a link to the start page."""
    body = render_template("errors/message.html", title=title, text=text)
    return Response(body, status=status, mimetype="text/html")


def error_response(exc: HTTPException) -> Response | HTTPException:
    """The answer for an HTTP error: JSON on the API and to JSON clients, else a page."""
    if exc.code is None or exc.response is not None:
        return exc  # abort(response): the view made its own answer
    status = exc.code
    if status >= 500:
        # Why: the page is made without the staff user, whose row would be read through the
        # session that may have just failed; a broken session must not turn this into a bare
        # 500 of the server's own.
        g.user = None
    if isinstance(exc, RequestEntityTooLarge):
        # The body was refused unread. A form made while rendering the page (the admin
        # blueprint's context processor makes one) would try to read it again and raise anew;
        # it gets an empty form instead, the way Werkzeug caches a parsed one.
        empty = request.parameter_storage_class()
        request.__dict__.update(form=empty, files=empty)
    # Never the exception's description: Werkzeug's are English, and some quote a parser's
    # message; a 500 shows nothing of what failed (the log has it).
    title, text = _messages(status)
    if wants_json():
        response = jsonify(error=API_CODES.get(status, f"http_{status}"), message=text)
        response.status_code = status
    else:
        response = message_page(title, text, status)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _refuse_nul() -> None:
    # Why: PostgreSQL's text cannot hold U+0000, so a slug or query value with one made the
    # driver fail (a 500) instead of "not found". No real URL has one.
    if "\x00" in request.path or any(
        "\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)
    ):
        abort(400)


def init_app(app: Flask) -> None:
    """Bound ``<int:…>``, refuse NUL in URLs, and answer every HTTP error in the visitor's language.

    Call it before the blueprints are registered: their rules take the converter then.
    """
    app.url_map.converters["int"] = IdConverter
    app.before_request(_refuse_nul)
    app.register_error_handler(HTTPException, error_response)
