"""Forms work over HTTPS with CSRF on, although every page sends ``Referrer-Policy: no-referrer``.

Flask-WTF's strict SSL mode demands a same-origin Referer on HTTPS requests, which browsers never
send under no-referrer: behind a TLS proxy every form would then fail with 400. The CSRF token
(and the SameSite=Lax session cookie) is the protection; these tests post as a browser does.
"""

from __future__ import annotations

import re

import pytest

WRONG_LOGIN = "Fel e-postadress, lösenord eller kod."
TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def https_client(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def _token(client) -> str:
    page = client.get("/admin/login", base_url="https://localhost")
    assert page.status_code == 200
    match = TOKEN_RE.search(page.get_data(as_text=True))
    assert match, "the login form has no CSRF token"
    return match[1]


def _login(client, token: str | None):
    data = {"email": "nobody@example.org", "password": "wrong", "code": "123456"}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/admin/login", data=data, base_url="https://localhost")


def test_a_form_with_its_token_is_accepted_over_https_without_a_referer(https_client):
    response = _login(https_client, _token(https_client))
    text = response.get_data(as_text=True)
    assert "referrer" not in text.lower()
    # The view ran: it judged the (wrong) credentials, as it does over plain HTTP.
    assert WRONG_LOGIN in text


def test_a_form_without_its_token_is_still_refused_over_https(https_client):
    _token(https_client)  # a session exists, but the post carries no token
    response = _login(https_client, None)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert WRONG_LOGIN not in text  # refused before the view
    assert "Sidan har gått ut" in text  # and told so in the visitor's language
    assert "ladda om sidan" in text


def test_the_refusal_page_speaks_english_too(https_client):
    https_client.get("/?lang=en", base_url="https://localhost")
    response = _login(https_client, None)
    assert response.status_code == 400
    assert "This page has expired" in response.get_data(as_text=True)
