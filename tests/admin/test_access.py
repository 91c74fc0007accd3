"""Every route of ``app.url_map`` against every role: a new route without an entry fails.

``ACCESS`` says who may use each endpoint: "public", or the set of roles. The staff roles are
granted by ``@role_required`` (voting/auth.py): anyone else gets 403 as JSON and, in HTML, a
redirect to the login page (a logged-in staff user without the right gets 403). Voters and
nominees hold an emailed link instead, kept in their session (or, for the voter's API, sent as
a bearer token); without it the voter's API answers 401 and their pages 403.

The matrix runs against one seeded database per backend for the whole module. That is safe
because a refused request never reaches the view, and the only request let through that
changes anything (approving) approves a nomination of the role's own.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient

from tests.admin.conftest import Seed, make_seed
from tests.conftest import Clock, _pg_admin, _pg_url, make_app, new_data_key
from tests.factories import make_member, make_nomination, make_staff_quick
from voting import create_app
from voting.admin.services import start_session
from voting.ballot.models import RollEntry, VoterLink
from voting.ballot.views import VOTER_KEY
from voting.crypto import new_token, token_hash
from voting.db import db
from voting.elections.services import get_election

STAFF_ROLES = ("auditor", "committee", "admin")
ROLES = ("anonymous", "voter", "nominee", *STAFF_ROLES)

PUBLIC = "public"
AUDITOR = frozenset({"auditor", "committee", "admin"})  # @role_required(Role.AUDITOR)
COMMITTEE = frozenset({"committee", "admin"})  # @role_required(Role.COMMITTEE)
VOTER = frozenset({"voter"})  # the member's voting link (session, or bearer token on the API)
NOMINEE = frozenset({"nominee"})  # the nominee's emailed link (session)

ACCESS: dict[str, str | frozenset[str]] = {
    # Anyone: the public pages and API, and the pages the emailed links and the login lead to
    # (a token in the URL or the form is checked by the view itself).
    "static": PUBLIC,
    "public.index": PUBLIC,
    "public.healthz": PUBLIC,
    "public.readyz": PUBLIC,
    "public.board": PUBLIC,
    "public.results_page": PUBLIC,
    "public.accessibility": PUBLIC,
    "public.privacy": PUBLIC,
    "public.results_api": PUBLIC,
    "public.results_csv": PUBLIC,
    "public.protocol": PUBLIC,
    "public.check_page": PUBLIC,  # the voter-code check: the lists are public after the seal
    "public.check_guide": PUBLIC,
    "public.voter_codes_api": PUBLIC,
    "nominations.form": PUBLIC,
    "nominations.confirm_link": PUBLIC,
    "nominations.confirmed": PUBLIC,
    "nominations.nominee_link": PUBLIC,
    "nominations.candidates": PUBLIC,
    # Published candidates; before that only the nominee's and the committee's (else 404).
    "nominations.photo": PUBLIC,
    "ballot.open_link": PUBLIC,
    "letters.code_form": PUBLIC,  # the letter's code in the form is checked by the view
    "api.manifest": PUBLIC,
    "api.board": PUBLIC,
    "api.cast": PUBLIC,  # anonymous by design: the blind signature is the credential
    "audit.checkpoints_api": PUBLIC,
    "audit.record_api": PUBLIC,
    "admin.login": PUBLIC,
    "admin.logout": PUBLIC,
    # Swedish eID: anyone may begin a sign-in; the provider's answer is checked by the view.
    "eid.vote_page": PUBLIC,
    "eid.vote_start": PUBLIC,
    "eid.staff_start": PUBLIC,
    "eid.callback": PUBLIC,
    # Only registered with DEMO on (voting/dev/views.py refuses outside the demo as well).
    "dev.index": PUBLIC,
    "dev.mail": PUBLIC,
    "dev.mail_show": PUBLIC,
    "dev.totp": PUBLIC,
    # The voter and the nominee.
    "ballot.ballot_page": VOTER,
    "api.voter": VOTER,
    "api.blind_sign": VOTER,
    "nominations.nominee": NOMINEE,
    # Staff: the auditor reads, the committee acts; admins may do all the committee may.
    "admin.dashboard": AUDITOR,
    "admin.election": AUDITOR,
    "admin.candidates": AUDITOR,  # the auditor once the lists are published: see BEFORE_PUBLICATION
    "admin.nominations": COMMITTEE,
    "admin.approve": COMMITTEE,
    "admin.reject": COMMITTEE,
    "admin.publish": COMMITTEE,
    "admin.schedule": COMMITTEE,
    "admin.election_new": COMMITTEE,
    "admin.mail": COMMITTEE,
    "admin.mail_unreachable": COMMITTEE,  # names members
    "admin.mail_unreachable_csv": COMMITTEE,
    "admin.mail_correct": COMMITTEE,
    "admin.mail_decide_move": COMMITTEE,  # the second committee member of a moved link
    "admin.voting": AUDITOR,
    "admin.voting_freeze": COMMITTEE,
    "admin.voting_add_to_roll": COMMITTEE,
    "admin.voting_send_links": COMMITTEE,
    "admin.voting_remind": COMMITTEE,
    "admin.voting_resend": COMMITTEE,
    "admin.voting_seal": COMMITTEE,
    "letters_admin.page": COMMITTEE,  # voting letters: names and voting codes (the PDF)
    "letters_admin.issue": COMMITTEE,
    "letters_admin.replace": COMMITTEE,
    "letters_admin.download": COMMITTEE,
    "postal_admin.page": COMMITTEE,  # postal ballots: names of members who sent an envelope
    "postal_admin.register": COMMITTEE,
    "postal_admin.confirm": COMMITTEE,  # the second committee member of an envelope
    "postal_admin.open_batch": COMMITTEE,
    "postal_admin.batch": COMMITTEE,
    "postal_admin.enter": COMMITTEE,
    "postal_admin.resolve": COMMITTEE,
    "postal_admin.accept": COMMITTEE,
    "postal_admin.kits": COMMITTEE,  # names and addresses
    "audit.log": AUDITOR,
    "audit.checkpoint_list": AUDITOR,
    "audit.results_page": AUDITOR,
    "audit.results_publish": COMMITTEE,
    "members.index": COMMITTEE,
    "members.search": COMMITTEE,  # names, addresses, personnummer
    "members.set_channel_page": COMMITTEE,
    "members.import_members_page": COMMITTEE,
    "members.import_foreningar_page": COMMITTEE,
}

# The status a role let through gets, where this seed (nominations open) fixes it; elsewhere the
# test asserts only that the role is let through. Each feature's own tests check the rest.
ALLOWED_STATUS = {
    ("admin.dashboard", "GET"): 200,
    ("admin.election", "GET"): 200,
    ("admin.candidates", "GET"): 200,
    ("admin.nominations", "GET"): 200,
    ("admin.publish", "GET"): 200,
    ("admin.publish", "POST"): 400,  # the box is not ticked
    ("admin.schedule", "GET"): 200,
    ("admin.schedule", "POST"): 400,  # empty form
    ("admin.mail_unreachable", "GET"): 200,
    ("admin.mail_unreachable_csv", "GET"): 200,
    ("admin.election_new", "GET"): 200,
    ("admin.election_new", "POST"): 400,  # no file
    ("admin.approve", "POST"): 302,
    ("admin.reject", "GET"): 200,
    ("admin.reject", "POST"): 400,  # no reason
    ("members.search", "POST"): 400,  # nothing to search for
    ("members.set_channel_page", "POST"): 404,  # no such member in the seed
    ("letters_admin.page", "GET"): 200,
    ("letters_admin.issue", "POST"): 400,  # the box is not ticked
    ("letters_admin.replace", "POST"): 400,  # no member ID
    ("letters_admin.download", "POST"): 404,  # no letters wait
    ("ballot.ballot_page", "GET"): 200,  # "no vote is held here": the list is not published
    ("api.voter", "GET"): 200,
    ("nominations.nominee", "GET"): 200,
}
# Why: until publication, who was approved is member data, which the auditor never sees.
BEFORE_PUBLICATION = {("admin.candidates", "GET", "auditor"): 403}


def _routes(*, demo: bool) -> list[tuple[str, str]]:
    """(endpoint, method) of every rule in the url_map of an app configured as the tests do."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "TESTING": True,
                "DEMO": demo,
                "MAIL_TRANSPORT": "sink",
                "SECRET_KEY": secrets.token_urlsafe(32),
                "DATA_KEY": new_data_key(),
                "DATABASE_URL": f"sqlite:///{tmp}/unused.db",
            },
            instance_path=tmp,
        )
        routes = {
            (rule.endpoint, method)
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
            if method not in ("HEAD", "OPTIONS")  # Flask adds them: HEAD runs the GET view
        }
        app.extensions["db"]["engine"].dispose()
    return sorted(routes)


ROUTES = _routes(demo=False)
DEMO_ROUTES = _routes(demo=True)  # plus the dev pages
PUBLIC_ROUTES = [route for route in ROUTES if ACCESS.get(route[0]) == PUBLIC]
# A route missing from ACCESS counts as protected, so that its cases fail until it has an entry.
PROTECTED_ROUTES = [route for route in ROUTES if ACCESS.get(route[0]) != PUBLIC]


def _ids(routes: list[tuple[str, str]]) -> list[str]:
    return [f"{endpoint}-{method}" for endpoint, method in routes]


def test_every_endpoint_has_an_entry_and_every_entry_an_endpoint():
    endpoints = {endpoint for endpoint, _method in DEMO_ROUTES}
    assert {endpoint for endpoint, _method in ROUTES} <= endpoints
    missing = sorted(endpoints - ACCESS.keys())
    assert not missing, f"say in ACCESS who may use {missing}"
    stale = sorted(ACCESS.keys() - endpoints)
    assert not stale, f"ACCESS names endpoints that no longer exist: {stale}"


def test_the_table_names_only_known_roles():
    for endpoint, access in ACCESS.items():
        assert access == PUBLIC or (access and access <= set(ROLES)), endpoint


# --- One seeded app per backend ---------------------------------------------------------------


@dataclass
class World:
    app: Flask
    clock: Clock
    seed: Seed
    contest_id: int
    staff: dict[str, int]  # role -> user id
    own_nomination: dict[str, int]  # role -> an awaiting nomination only that role approves
    voter_link: int
    voter_token: str
    nominee: int  # the nomination whose emailed link the nominee opened


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _smtp_server: Any
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("access")
    database = None
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp / "test.db")
        url = f"sqlite:///{tmp / 'test.db'}"
    else:
        template = request.getfixturevalue("postgres_template")
        database = f"kvtest_access_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        _pg_admin(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        url = _pg_url(database)
    try:
        clock = Clock()
        app = make_app(url, clock, _smtp_server.port, tmp)
        with app.app_context():
            populated = _populate(app, clock)
        yield populated
        app.extensions["db"]["engine"].dispose()
    finally:
        if database is not None:
            _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _populate(app: Flask, clock: Clock) -> World:
    now = clock()
    seed = make_seed(now)
    voter_token = new_token()
    with db.transaction() as s:
        election = get_election(s, seed.slug)
        contest = next(c for c in election.contests if c.krets_code == "SODERMALM")
        staff = {role: make_staff_quick(s, role, now).id for role in STAFF_ROLES}
        own = {}
        for role in ROLES:
            member = make_member(s, "SODERMALM", "Egen", role.title(), now)
            own[role] = make_nomination(s, election, member, now, nominators=[member]).id
        voter = make_member(s, "SODERMALM", "Vera", "Väljare", now)
        s.add(
            RollEntry(
                election_id=election.id,
                contest_id=contest.id,
                member_id=voter.member_id,
                source="freeze",
                added_at=now,
            )
        )
        link = VoterLink(
            election_id=election.id,
            member_id=voter.member_id,
            token_hash=token_hash(voter_token),
            created_at=now,
        )
        s.add(link)
        s.flush()
        return World(
            app=app,
            clock=clock,
            seed=seed,
            contest_id=contest.id,
            staff=staff,
            own_nomination=own,
            voter_link=link.id,
            voter_token=voter_token,
            nominee=seed.unanswered,
        )


def _client(world: World, role: str) -> FlaskClient:
    """A browser holding what ``role`` holds: a staff login, a voter's or a nominee's link."""
    client = world.app.test_client()
    now = world.clock()
    with client.session_transaction() as cookie:
        if role in STAFF_ROLES:
            start_session(cookie, SimpleNamespace(id=world.staff[role], session_epoch=0), now)
        elif role == "voter":
            cookie[VOTER_KEY] = world.voter_link
        elif role == "nominee":
            until = int((now + timedelta(hours=1)).timestamp())
            cookie["nominee"] = {"id": world.nominee, "until": until}
    return client


def _url(world: World, endpoint: str, role: str) -> str:
    """The endpoint's URL with arguments that exist in the seed."""
    values: dict[str, Any] = {
        "slug": world.seed.slug,
        "nomination_id": (
            world.own_nomination[role] if endpoint == "admin.approve" else world.seed.awaiting
        ),
        "contest_id": world.contest_id,
        "token": "no-such-token",
        "filename": "style.css",
        "move_id": 1,
        "batch_id": 1,
        "decision": "godkann",
        "member_id": "no-such-member",
    }
    (rule,) = world.app.url_map.iter_rules(endpoint)
    unknown = sorted(rule.arguments - values.keys())
    assert not unknown, f"give _url a value for {unknown} of {rule.rule}"
    with world.app.test_request_context():
        return url_for(endpoint, **{name: values[name] for name in rule.arguments})


def _sent_to_login(response: Any, url: str) -> bool:
    if response.status_code != 302 or not response.location.startswith("/admin/login?next="):
        return False
    back = parse_qs(urlsplit(response.location).query)["next"][0]
    assert urlsplit(back).path == urlsplit(url).path  # the login comes back here
    return True


def _forbidden_json(response: Any) -> bool:
    body = response.get_json(silent=True)
    return response.status_code == 403 and isinstance(body, dict) and body["error"] == "forbidden"


# --- The matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("endpoint", "method"), PROTECTED_ROUTES, ids=_ids(PROTECTED_ROUTES))
def test_protected(world, endpoint, method, role):
    access = ACCESS.get(endpoint)
    assert access is not None, f"{endpoint} has no entry in ACCESS: say who may use it"
    assert access != PUBLIC
    url = _url(world, endpoint, role)
    client = _client(world, role)
    if access in (VOTER, NOMINEE):
        _check_link_holder(world, client, url, endpoint, method, role, access)
        return
    if role in access:
        response = client.open(url, method=method)
        expected = BEFORE_PUBLICATION.get((endpoint, method, role))
        expected = expected or ALLOWED_STATUS.get((endpoint, method))
        if expected is not None:
            assert response.status_code == expected, response.get_data(as_text=True)[:2000]
        else:
            assert response.status_code != 403, response.get_data(as_text=True)[:2000]
            assert not _sent_to_login(response, url)
        return
    html = client.open(url, method=method)
    if role in STAFF_ROLES:
        assert html.status_code == 403
    else:
        assert html.status_code == 302
        assert html.location.startswith("/admin/login?next=")
        assert _sent_to_login(html, url)
    as_json = client.open(url, method=method, headers={"Accept": "application/json"})
    assert as_json.status_code == 403
    assert as_json.get_json()["error"] == "forbidden"


def _check_link_holder(
    world: World,
    client: FlaskClient,
    url: str,
    endpoint: str,
    method: str,
    role: str,
    access: frozenset[str],
) -> None:
    """The voter's pages and API, the nominee's page: the link is the credential, not a role."""
    api = url.startswith("/api/")
    headers = {}
    if api and role == "voter":
        headers["Authorization"] = f"Bearer {world.voter_token}"
    response = client.open(url, method=method, headers=headers)
    body = response.get_json(silent=True) if api else None
    if role in access:
        expected = ALLOWED_STATUS.get((endpoint, method))
        if expected is not None:
            assert response.status_code == expected, response.get_data(as_text=True)[:2000]
        elif api:
            assert response.status_code != 401, body
        else:
            assert response.status_code != 403, response.get_data(as_text=True)[:2000]
    elif api:
        assert response.status_code == 401
        assert body["error"] == "unauthenticated"
    else:
        # A staff login is no voting link: no redirect to the staff login either.
        assert response.status_code == 403


@pytest.mark.parametrize(("endpoint", "method"), PUBLIC_ROUTES, ids=_ids(PUBLIC_ROUTES))
def test_public(world, endpoint, method):
    """Anyone gets past access control (what the view then answers is its own business)."""
    url = _url(world, endpoint, "anonymous")
    client = _client(world, "anonymous")
    with client.open(url, method=method) as html:  # closed: a static file stays open otherwise
        assert not _sent_to_login(html, url)
    with client.open(url, method=method, headers={"Accept": "application/json"}) as as_json:
        assert not _forbidden_json(as_json)


def test_auditor_sees_no_member_data(client, seed, login_as):
    login_as("auditor")
    for url in ("/admin/", f"/admin/val/{seed.slug}/", f"/admin/val/{seed.slug}/kandidater"):
        page = client.get(url).get_data(as_text=True)
        assert seed.nominee_email not in page
        assert "Medlemsnummer" not in page
        assert "/nomineringar" not in page  # no links to what they may not open
        assert "godkann" not in page
