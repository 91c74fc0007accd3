"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response

# Why this CSP: no inline script at all (the one bundled JS file is served from /static),
# no framing (clickjacking of the ballot), and nothing loaded from other origins.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def init_app(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # Why no-referrer: pages reached from emailed links must not leak their URL onwards.
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        # Why the cookie's setting and not debug mode: a site whose session cookie travels only
        # over HTTPS is an HTTPS site; VOTING_DEBUG=true in production must not drop HSTS.
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response
