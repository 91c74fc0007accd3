"""The eID sign-in in Chromium, end to end, against the real test provider (oidc-provider).

The app is served over real HTTP on loopback, the provider is a node process on loopback, and
Chromium walks both: the election's page, the provider's login form, the callback, the ballot
(blinded in the page, as for a link), the receipt. Every request leaving loopback is aborted.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Clock, LiveServer, make_app
from tests.eid.conftest import (
    OFF_ROLL_PNR,
    PNR,
    Provider,
    eid_config,
    eid_election,
    start_provider,
)

pytestmark = pytest.mark.browser

NOT_LOOPBACK = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])")


@dataclass
class EidSite:
    app: Flask
    url: str
    provider: Provider


@pytest.fixture
def site(
    database_url: str, clock: Clock, _smtp_server: Any, tmp_path: Path, _playwright_browser: Any
) -> Iterator[EidSite]:
    """The app on a loopback port, with the provider registered for that port's callback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    provider = start_provider([f"{url}/eid/callback"])
    app = make_app(
        database_url,
        clock,
        _smtp_server.port,
        tmp_path,
        WTF_CSRF_ENABLED=True,
        SERVER_NAME=None,
        BASE_URL=url,
        **eid_config(provider.issuer, f"{url}/eid/callback"),
    )
    try:
        with LiveServer(app, port):
            yield EidSite(app, url, provider)
    finally:
        provider.stop()
        app.extensions["db"]["engine"].dispose()


@pytest.fixture
def page(browser: Any) -> Any:
    browser.route(NOT_LOOPBACK, lambda route: route.abort())
    return browser.new_page()


def _election(site: EidSite, clock: Clock, rsa_keys: Any, mode: str) -> Any:
    with site.app.app_context():
        return eid_election(site.app, clock, rsa_keys, site.url, mode)


def _provider_login(page: Any, personnummer: str) -> None:
    page.get_by_label("Personnummer").fill(personnummer)
    page.get_by_role("button", name="Legitimera").click()


def _vote(page: Any) -> str:
    page.get_by_role("heading", name="Steg 1 av 4: Välj kandidater").wait_for()
    page.get_by_label("Anna Berg").check()
    page.get_by_label("Cecilia Dahl").check()
    page.get_by_role("button", name="Granska").click()
    page.get_by_role("button", name="Avge röst").click()
    page.get_by_role("heading", name="Din röst är registrerad", level=1).wait_for()
    return str(page.locator("#receipt-hash").inner_text().strip())


def _board(page: Any, site: EidSite, slug: str) -> list[str]:
    board = page.request.get(f"{site.url}/api/v1/elections/{slug}/board").json()
    return next(c for c in board["contests"] if c["krets"] == "SODERMALM")["ballot_hashes"]


def test_eid_only_vote(site, page, clock, rsa_keys, smtp):
    setup = _election(site, clock, rsa_keys, "eid")
    page.goto(f"{site.url}/val/{setup.slug}/rosta")
    page.get_by_role("button", name="Logga in med e-legitimation").click()
    _provider_login(page, PNR["S1"])
    page.wait_for_url(f"{site.url}/rosta")
    receipt = _vote(page)
    assert _board(page, site, setup.slug) == [receipt]


def test_link_and_eid_of_the_same_member_vote(site, page, clock, rsa_keys, smtp):
    setup = _election(site, clock, rsa_keys, "link+eid")
    page.goto(f"{site.url}/rosta/{setup.tokens['S3']}")
    page.wait_for_url(f"{site.url}/rosta")
    page.locator('#sign-in-mode[data-mode="link+eid"]').wait_for()
    page.get_by_role("button", name="Logga in med e-legitimation").click()
    _provider_login(page, PNR["S3"])  # a samordningsnummer, as the register holds it
    receipt = _vote(page)
    assert _board(page, site, setup.slug) == [receipt]


def test_link_and_eid_of_another_person_is_refused(site, page, clock, rsa_keys, smtp):
    setup = _election(site, clock, rsa_keys, "link+eid")
    page.goto(f"{site.url}/rosta/{setup.tokens['S1']}")
    page.get_by_role("button", name="Logga in med e-legitimation").click()
    _provider_login(page, PNR["S2"])
    page.get_by_role("heading", name="E-legitimationen hör inte till röstlänken").wait_for()
    assert page.locator("#eid-refusal").get_attribute("data-code") == "mismatch"
    page.goto(f"{site.url}/rosta")  # still only the link: no ballot
    page.locator('#sign-in-mode[data-mode="link+eid"]').wait_for()
    assert page.locator("#ballot-app").count() == 0
    assert _board(page, site, setup.slug) == []


def test_a_member_not_on_the_roll_is_refused(site, page, clock, rsa_keys, smtp):
    setup = _election(site, clock, rsa_keys, "eid")
    page.goto(f"{site.url}/val/{setup.slug}/rosta")
    page.locator("#eid-sign-in").click()
    _provider_login(page, OFF_ROLL_PNR)
    page.get_by_role("heading", name="Du finns inte i röstlängden").wait_for()
    assert page.locator("#eid-refusal").get_attribute("data-code") == "not_on_roll"
    assert page.locator("#ballot-app").count() == 0


def test_staff_sign_in_with_eid(site, page, clock, smtp):
    from tests.factories import make_staff_quick
    from voting.db import db
    from voting.eid.services import set_staff_eid

    with site.app.app_context(), db.transaction() as s:
        user = make_staff_quick(s, "committee", clock())
        set_staff_eid(s, user, PNR["B1"], clock())
        email = user.email
    page.goto(f"{site.url}/admin/login")
    page.get_by_role("button", name="Logga in med e-legitimation").click()
    _provider_login(page, PNR["B1"])
    page.wait_for_url(f"{site.url}/admin/")
    assert email in page.content()
    # Another person's eID maps to no account.
    page.get_by_role("button", name=re.compile("Logga ut")).click()
    page.goto(f"{site.url}/admin/login")
    page.get_by_role("button", name="Logga in med e-legitimation").click()
    _provider_login(page, PNR["S2"])
    assert page.locator("#eid-refusal").get_attribute("data-code") == "staff_unknown"
