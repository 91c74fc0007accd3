"""The auditor's log and checkpoint pages: every role, the log key, the type filter, paging."""

from __future__ import annotations

import pytest

from tests.ballot.conftest import setup_voting
from voting.db import db
from voting.log.checkpoints import checkpoints, log_key_json
from voting.log.services import append

ROLES = ("anonymous", "auditor", "committee", "admin")
PAGES = ("/audit/{slug}/log", "/audit/{slug}/checkpoints")


@pytest.fixture
def voting(app, clock, rsa_keys):
    return setup_voting(app, clock, rsa_keys, "http://localhost")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES)
def test_access(voting, client, login_as, role, page):
    if role != "anonymous":
        login_as(role)
    response = client.get(page.format(slug=voting.slug))
    if role == "anonymous":
        assert response.status_code == 302
        assert response.location.startswith("/admin/login?next=")
        return
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    fingerprint = log_key_json(db.session, voting.slug)["log_key_fingerprint"]
    assert fingerprint
    assert fingerprint in html


def test_unknown_election_is_404(app, client, login_as):
    login_as("auditor")
    assert client.get("/audit/finns-inte/log").status_code == 404
    assert client.get("/audit/finns-inte/checkpoints").status_code == 404


def test_log_filter_by_type(voting, client, login_as):
    login_as("auditor")
    html = client.get(f"/audit/{voting.slug}/log").get_data(as_text=True)
    assert '<option value="roll.frozen">' in html
    assert '<option value="links.sent">' in html
    assert html.count('class="log-entry"') >= 2
    filtered = client.get(f"/audit/{voting.slug}/log?type=roll.frozen").get_data(as_text=True)
    assert filtered.count('class="log-entry"') == 1
    assert '<option value="roll.frozen" selected>' in filtered
    assert "links.sent</code>" not in filtered
    assert "roll.frozen</code>" in filtered
    # An unknown type is not a filter: the whole log is shown.
    unknown = client.get(f"/audit/{voting.slug}/log?type=nope").get_data(as_text=True)
    assert unknown.count('class="log-entry"') == html.count('class="log-entry"')


def test_log_pages_by_100(voting, client, login_as, clock):
    with db.transaction() as s:
        for i in range(150):
            append(s, voting.slug, "test.event", {"i": i}, clock())
    login_as("auditor")
    first = client.get(f"/audit/{voting.slug}/log?type=test.event").get_data(as_text=True)
    assert first.count('class="log-entry"') == 100
    assert 'rel="next"' in first
    assert "page=2" in first
    second = client.get(f"/audit/{voting.slug}/log?type=test.event&page=2").get_data(as_text=True)
    assert second.count('class="log-entry"') == 50
    assert 'rel="prev"' in second
    assert 'rel="next"' not in second
    assert '<span class="key">i</span>: 149</li>' in second
    # A page past the end shows the last one.
    past = client.get(f"/audit/{voting.slug}/log?type=test.event&page=9").get_data(as_text=True)
    assert past.count('class="log-entry"') == 50


def test_checkpoints_page_lists_roots(voting, client, login_as):
    login_as("auditor")
    html = client.get(f"/audit/{voting.slug}/checkpoints").get_data(as_text=True)
    assert html.count('class="checkpoint"') == 1
    assert "roll.frozen" in html
    [row] = checkpoints(db.session, voting.slug)
    assert row.root_b64 in html
    assert f"/api/v1/elections/{voting.slug}/checkpoints" in html
