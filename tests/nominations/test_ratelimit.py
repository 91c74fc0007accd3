"""The questionnaire and the emailed links are rate-limited (here with the limiter enabled)."""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.nominations.conftest import SLUG, form_data


@pytest.fixture
def limited_app(database_url, clock, _smtp_server, tmp_path):
    application = make_app(
        database_url,
        clock,
        _smtp_server.port,
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_PUBLIC_FORM="2 per minute",
        RATELIMIT_LINKS="3 per minute",
    )
    yield application
    application.extensions["db"]["engine"].dispose()


def test_questionnaire_post_is_limited_but_get_is_not(limited_app):
    client = limited_app.test_client()
    url = f"/val/{SLUG}/nominera"
    # The election does not exist: the limit applies before the view runs anyway.
    statuses = [client.post(url, data=form_data()).status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    assert client.get(url).status_code == 404  # GET is not counted


def test_links_are_limited(limited_app):
    client = limited_app.test_client()
    statuses = [client.post(f"/nominera/bekrafta/nope{i}").status_code for i in range(3)]
    assert statuses == [404, 404, 404]
    assert client.post("/nominera/bekrafta/again").status_code == 429
    # Each link route has its own budget.
    statuses = [client.post(f"/kandidat/nope{i}").status_code for i in range(4)]
    assert statuses == [404, 404, 404, 429]


def test_link_pages_are_not_limited(limited_app):
    """The GET page only shows a button and reads nothing; the POST is what redeems a token."""
    client = limited_app.test_client()
    statuses = [client.get(f"/nominera/bekrafta/nope{i}").status_code for i in range(5)]
    statuses += [client.get(f"/kandidat/nope{i}").status_code for i in range(5)]
    assert statuses == [200] * 10
    assert client.post("/kandidat/nope").status_code == 404


def test_the_limit_page_speaks_the_visitors_language(limited_app):
    client = limited_app.test_client()
    url = f"/val/{SLUG}/nominera"
    for _ in range(2):
        client.post(url, data=form_data())
    refused = client.post(url, data=form_data())
    assert refused.status_code == 429
    assert "För många försök" in refused.get_data(as_text=True)
    assert refused.headers["Retry-After"]
    client.get("/?lang=en")
    english = client.post(url, data=form_data()).get_data(as_text=True)
    assert "Too many attempts" in english
    assert "Too Many Requests" not in english  # not Werkzeug's bare page
