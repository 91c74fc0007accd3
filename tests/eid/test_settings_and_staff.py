"""The sign-in mode in the election file and on the schedule page, the provider settings, the
mails per mode, and staff accounts signing in with eID (CLI mapping, STAFF_REQUIRE_EID)."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import select

from tests.ballot.conftest import BEFORE, ELECTION
from tests.conftest import new_data_key
from tests.eid.conftest import PNR, TEST_REDIRECT, eid_election, sign_in
from voting import create_app
from voting.config import ConfigError
from voting.db import db
from voting.elections.errors import ElectionFileError
from voting.elections.services import (
    create_election,
    get_election,
    parse_election_file,
    set_sign_in,
)
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.staff.models import StaffEid, User


def test_the_election_file_names_the_mode_and_link_is_the_default():
    assert parse_election_file(ELECTION)["sign_in"] == "link"
    for mode in ("link", "eid", "link+eid"):
        assert parse_election_file(f'sign_in = "{mode}"\n' + ELECTION)["sign_in"] == mode
    with pytest.raises(ElectionFileError, match="sign_in: must be one of"):
        parse_election_file('sign_in = "bankid"\n' + ELECTION)


def test_the_mode_changes_until_voting_opens_and_is_logged(app, clock):
    from voting.log.models import AuditEntry

    clock.set(BEFORE)
    with db.transaction() as s:
        election = create_election(s, 'sign_in = "eid"\n' + ELECTION, BEFORE, by="cli")
        assert election.sign_in == "eid"
        assert set_sign_in(s, election, "link+eid", BEFORE, by="cli") is True
        assert set_sign_in(s, election, "link+eid", BEFORE, by="cli") is False
    with db.transaction() as s:
        election = get_election(s, "val-2027")
        with pytest.raises(ElectionFileError, match="sign_in: voting opened"):
            set_sign_in(s, election, "link", election.voting_opens, by="cli")
    changes = [
        e.body
        for e in db.session.scalars(select(AuditEntry).where(AuditEntry.log == "val-2027"))
        if '"sign_in"' in str(e.body)
    ]
    assert len(changes) == 2


def test_the_database_refuses_an_unknown_mode(app, clock):
    import sqlalchemy as sa

    with db.transaction() as s:
        create_election(s, ELECTION, BEFORE, by="cli")
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as s:
        s.execute(sa.text("UPDATE election SET sign_in = 'bankid'"))


def test_the_schedule_page_shows_and_changes_the_mode(app, client, clock, login_as):
    clock.set(BEFORE)
    with db.transaction() as s:
        create_election(s, ELECTION, BEFORE, by="cli")
    login_as("committee")
    page = client.get("/admin/val/val-2027/schema").get_data(as_text=True)
    assert 'name="sign_in"' in page
    form = {
        "nomination_opens": "2026-10-01T00:00:00",
        "nomination_closes": "2026-11-30T23:59:59",
        "voting_opens": "2027-01-12T00:00:00",
        "voting_closes": "2027-01-25T23:59:59",
        "reminders": "72, 24",
        "sign_in": "link+eid",
    }
    assert client.post("/admin/val/val-2027/schema", data=form).status_code == 302
    assert get_election(db.session, "val-2027").sign_in == "link+eid"
    overview = client.get("/admin/val/val-2027/").get_data(as_text=True)
    assert "sign-in-mode" in overview


def _config(**extra):
    return {
        "TESTING": True,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATA_KEY": new_data_key(),
        "DATABASE_URL": "sqlite://",
        **extra,
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"EID_ISSUER": "https://idp.example"}, "EID_CLIENT_ID"),
        ({"EID_ISSUER": "https://idp.example", "EID_CLIENT_ID": "x"}, "EID_CLIENT_SECRET"),
        (
            {"EID_ISSUER": "http://idp.example", "EID_CLIENT_ID": "x", "EID_CLIENT_SECRET": "s"},
            "https",
        ),
        ({"STAFF_REQUIRE_EID": True}, "STAFF_REQUIRE_EID"),
        (
            {
                "EID_ISSUER": "https://idp.example",
                "EID_CLIENT_ID": "x",
                "EID_CLIENT_SECRET": "s",
                "EID_TOKEN_AUTH_METHOD": "none",
            },
            "EID_TOKEN_AUTH_METHOD",
        ),
    ],
)
def test_a_provider_configured_by_halves_stops_the_app(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        create_app(_config(**settings), instance_path=str(tmp_path))


def test_without_a_provider_nothing_changes_and_eid_says_so(app, client, clock, rsa_keys, smtp):
    setup = eid_election(app, clock, rsa_keys, "http://localhost", "eid")
    page = client.get(f"/val/{setup.slug}/rosta").get_data(as_text=True)
    assert 'id="eid-sign-in"' not in page
    refused = client.post(f"/val/{setup.slug}/rosta/e-legitimation")
    assert refused.status_code == 503
    assert "Inloggning med e-legitimation" not in client.get("/admin/login").get_data(as_text=True)


def test_the_mails_say_how_to_sign_in(app, clock, rsa_keys, smtp):
    from voting.ballot.links import resend_link
    from voting.members.models import Member

    setup = eid_election(app, clock, rsa_keys, "http://localhost", "link")
    link_mail = message_body(db.session.scalars(select(OutboxMessage)).first())
    assert "/rosta/" in link_mail
    assert "e-legitimation" not in link_mail
    for mode, has_token in (("eid", False), ("link+eid", True)):
        with db.transaction() as s:
            election = get_election(s, setup.slug)
            election.sign_in = mode
            resend_link(s, election, s.get_one(Member, "S4"), clock(), "http://localhost")
        last = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
        body = message_body(last)
        assert "e-legitimation" in body
        assert bool(re.search(r"/rosta/[A-Za-z0-9_-]{20,}", body)) is has_token
        if not has_token:
            assert f"http://localhost/val/{setup.slug}/rosta" in body


# --- Staff -----------------------------------------------------------------------------------


def _staff(clock, role="committee"):
    from tests.factories import make_staff_quick

    with db.transaction() as s:
        user = make_staff_quick(s, role, clock())
        return user.id, user.email


def test_the_cli_maps_an_eid_to_an_account_without_storing_the_number(eid_app, clock):
    uid, email = _staff(clock)
    runner = eid_app.test_cli_runner()
    result = runner.invoke(args=["admin", "eid", email], input=PNR["B1"] + "\n")
    assert result.exit_code == 0, result.output
    row = db.session.get_one(StaffEid, uid)
    assert PNR["B1"] not in row.pnr_lookup
    assert len(row.pnr_lookup) == 64
    # The same eID cannot sign in to a second account.
    _uid2, email2 = _staff(clock, "auditor")
    taken = runner.invoke(args=["admin", "eid", email2], input=PNR["B1"] + "\n")
    assert taken.exit_code != 0
    bad = runner.invoke(args=["admin", "eid", email2], input="19700301-1230\n")
    assert "personnummer" in bad.output
    removed = runner.invoke(args=["admin", "eid", email, "--remove"])
    assert removed.exit_code == 0
    assert db.session.get(StaffEid, uid) is None


def test_staff_sign_in_maps_to_the_account_and_a_disabled_one_is_refused(eid_app, clock):
    from voting.eid.services import set_staff_eid

    uid, _email = _staff(clock)
    with db.transaction() as s:
        set_staff_eid(s, s.get_one(User, uid), PNR["S2"], clock())
    client = eid_app.test_client()
    done = sign_in(client, "/admin/login/e-legitimation", PNR["S2"], next="/admin/val/x/")
    assert done.status_code == 302
    assert done.headers["Location"] == "/admin/val/x/"
    with client.session_transaction() as cookie:
        assert cookie["staff_uid"] == uid
    with db.transaction() as s:
        s.get_one(User, uid).disabled_at = clock()
    other = eid_app.test_client()
    refused = sign_in(other, "/admin/login/e-legitimation", PNR["S2"])
    assert refused.status_code == 403
    assert 'data-code="staff_unknown"' in refused.get_data(as_text=True)
    with other.session_transaction() as cookie:
        assert "staff_uid" not in cookie


def test_staff_require_eid_turns_the_password_form_off(
    database_url, clock, smtp, tmp_path, oidc_provider
):
    from tests.conftest import make_app
    from tests.eid.conftest import eid_config

    app = make_app(
        database_url,
        clock,
        smtp.port,
        tmp_path,
        STAFF_REQUIRE_EID=True,
        **eid_config(oidc_provider.issuer, TEST_REDIRECT),
    )
    with app.app_context():
        client = app.test_client()
        page = client.get("/admin/login").get_data(as_text=True)
        assert 'name="password"' not in page
        assert 'id="eid-login"' in page
        posted = client.post(
            "/admin/login", data={"email": "a@example.org", "password": "x", "code": "123456"}
        )
        assert posted.status_code == 400
    app.extensions["db"]["engine"].dispose()
