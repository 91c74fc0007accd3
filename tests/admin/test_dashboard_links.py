"""The admin home page: an auditor gets the audit pages, the committee its pages and the mail."""

from __future__ import annotations

import re

import flask_babel
import pytest

from tests.ballot.conftest import setup_voting
from tests.public.test_results_page import cast_and_count


def _home(client) -> str:
    flask_babel.refresh()  # the test's app context (and g) outlives the request
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _h1(page: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", page, re.S)
    assert match
    return match.group(1).strip()


def _audit_links(slug: str) -> list[str]:
    return [f"/audit/{slug}/log", f"/audit/{slug}/checkpoints", f"/audit/{slug}/resultat"]


def test_auditor_sees_a_heading_of_their_own_and_the_audit_pages(client, login_as, seed):
    login_as("auditor")
    page = _home(client)
    assert _h1(page) == "Granskning av valen"
    staff_nav = page.split('class="staff"', 1)[1].split("</nav>", 1)[0]
    assert "Granskning av valen" in staff_nav
    assert "Valberedningen" not in staff_nav
    for url in _audit_links(seed.slug):
        assert f'href="{url}"' in page
        assert client.get(url).status_code == 200
    # Committee-only pages stay hidden from the auditor.
    assert f"/admin/val/{seed.slug}/epost" not in page
    assert f"/admin/val/{seed.slug}/nomineringar" not in page
    assert 'href="/admin/members"' not in page  # the register is the committee's
    # Not counted yet: the record download would answer 404, so it is not offered.
    assert "/record" not in page


@pytest.mark.parametrize("role", ["committee", "admin"])
def test_committee_keeps_its_heading_and_gets_the_mail_page(client, login_as, seed, role):
    login_as(role)
    page = _home(client)
    assert _h1(page) == "Valberedningen"
    assert "Valberedningen" in page.split('class="staff"', 1)[1].split("</nav>", 1)[0]
    mail = f"/admin/val/{seed.slug}/epost"
    assert f'href="{mail}"' in page
    assert client.get(mail).status_code == 200
    assert 'href="/admin/members"' in page  # the member search, which the README points to
    assert client.get("/admin/members").status_code == 200
    for url in (f"/admin/val/{seed.slug}/schema", f"/admin/val/{seed.slug}/publicera"):
        if url in page:  # whatever the committee had before is still there
            assert client.get(url).status_code == 200


def test_auditor_heading_in_english(client, login_as, seed):
    login_as("auditor")
    flask_babel.refresh()
    client.get("/?lang=en")
    assert _h1(_home(client)) == "Election audit"


def test_record_download_is_linked_once_counted(app, client, clock, rsa_keys, login_as):
    election = setup_voting(app, clock, rsa_keys, "http://localhost")
    record = f'href="/api/v1/elections/{election.slug}/record"'
    login_as("auditor")
    assert record not in _home(client)
    cast_and_count(client, clock, election)
    login_as("auditor")  # the clock moved past the voting close: a fresh session
    page = _home(client)
    assert record in page
    assert client.get(f"/api/v1/elections/{election.slug}/record").status_code == 200
