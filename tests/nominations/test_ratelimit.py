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
    statuses = [client.get(f"/nominera/bekrafta/nope{i}").status_code for i in range(3)]
    statuses.append(client.get("/kandidat/nope").status_code)
    assert statuses[:3] == [404, 404, 404]
    assert client.get("/nominera/bekrafta/again").status_code == 429
