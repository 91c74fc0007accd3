"""``voting admin create``, ``voting nominations ...`` and ``voting candidates publish``."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pyotp
from sqlalchemy import select

from tests.admin.conftest import close_nominations
from tests.factories import PASSWORD
from voting.admin.services import authenticate
from voting.db import db
from voting.log.services import entries
from voting.mail.models import OutboxMessage
from voting.nominations.models import Nomination, NominationStatus
from voting.staff.models import User


def test_admin_create_with_password_on_stdin_prints_secret_and_uri(runner, clock):
    result = runner.invoke(
        args=["admin", "create", "Chef@Example.org", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    secret = re.search(r"TOTP secret: ([A-Z2-7]{32})", result.output).group(1)
    uri = re.search(r"Provisioning URI: (\S+)", result.output).group(1)
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Kongressval"]
    assert "chef%40example.org" in parts.path.lower()
    user = db.session.scalar(select(User).where(User.email == "chef@example.org"))
    assert user.role == "admin"
    assert user.password_hash.startswith("$argon2id$")
    now = clock()
    assert authenticate(db.session, "chef@example.org", PASSWORD, pyotp.TOTP(secret).at(now), now)


def test_admin_create_prompts_twice_hidden(runner):
    result = runner.invoke(
        args=["admin", "create", "kim@example.org", "--role", "auditor"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert db.session.scalar(select(User.role).where(User.email == "kim@example.org")) == "auditor"


def test_admin_create_refuses_bad_input(runner):
    weak = runner.invoke(
        args=["admin", "create", "kim@example.org", "--role", "admin", "--password-stdin"],
        input="short\n",
    )
    assert weak.exit_code == 1
    assert "password" in weak.output
    role = runner.invoke(
        args=["admin", "create", "kim@example.org", "--role", "boss", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert role.exit_code == 2
    assert "--role" in role.output
    assert db.session.scalar(select(User)) is None


def test_nominations_list_json(runner, seed):
    result = runner.invoke(args=["nominations", "list", seed.slug, "--json"])
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    assert [i["id"] for i in items] == [seed.approved, seed.unanswered, seed.awaiting]
    anna = next(i for i in items if i["id"] == seed.awaiting)
    assert anna["status"] == "awaiting_review"
    assert anna["email"] == seed.nominee_email
    assert (anna["first_name"], anna["last_name"], anna["krets"]) == ("Anna", "Åberg", "SODERMALM")
    assert anna["nominators"] == 2
    assert {s["nominator"] or s["forening"] for s in anna["submissions"]} == {
        "Nora Nominerare",
        "S-föreningen Söder",
    }
    assert all(s["nominator_says_accepted"] is True for s in anna["submissions"])

    filtered = runner.invoke(
        args=[
            "nominations",
            "list",
            seed.slug,
            "--krets",
            "SODERMALM",
            "--status",
            "awaiting_nominee",
            "--json",
        ]
    )
    assert [i["id"] for i in json.loads(filtered.output)] == [seed.unanswered]


def test_nominations_list_text_and_errors(runner, seed):
    result = runner.invoke(args=["nominations", "list", seed.slug])
    assert result.exit_code == 0
    assert "Anna Åberg" in result.output
    assert "förening S-föreningen Söder" in result.output
    assert runner.invoke(args=["nominations", "list", "nope"]).exit_code == 1
    bad = runner.invoke(args=["nominations", "list", seed.slug, "--krets", "MARS"])
    assert bad.exit_code == 1
    assert "krets" in bad.output


def test_approve_and_reject_by_cli(runner, seed, smtp):
    result = runner.invoke(args=["nominations", "approve", str(seed.awaiting)])
    assert result.exit_code == 0, result.output
    assert "approved" in result.output
    (event,) = entries(db.session, seed.slug, "nomination.approved")
    assert json.loads(event.body)["data"]["by"] == "cli"

    missing = runner.invoke(args=["nominations", "reject", str(seed.approved)])
    assert missing.exit_code == 2
    assert "--reason" in missing.output
    result = runner.invoke(
        args=["nominations", "reject", str(seed.approved), "--reason", "Inte valbar"]
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Nomination, seed.approved).status == NominationStatus.REJECTED
    kinds = db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds == ["nomination_approved", "nomination_rejected"]
    db.session.rollback()  # end the test's read transaction: SQLite's takes the write lock
    delivered = runner.invoke(args=["mail", "send"])
    assert delivered.exit_code == 0, delivered.output
    (approved_mail,) = smtp.to(seed.nominee_email)
    assert "godkänts" in approved_mail["Subject"]
    assert len(smtp.messages) == 2

    wrong = runner.invoke(args=["nominations", "approve", str(seed.unanswered)])
    assert wrong.exit_code == 1
    assert "kan inte godkännas" in wrong.output
    assert runner.invoke(args=["nominations", "approve", "99999"]).exit_code == 1


def test_candidates_publish_prints_blockers_then_publishes(runner, seed, clock):
    blocked = runner.invoke(args=["candidates", "publish", seed.slug])
    assert blocked.exit_code == 1
    assert "Nomineringsperioden har inte stängt" in blocked.output
    assert "SODERMALM" in blocked.output
    assert entries(db.session, seed.slug, "candidates.published") == []

    runner.invoke(args=["nominations", "approve", str(seed.awaiting)])
    close_nominations(clock)
    # One candidate for 2 seats and one for 1: no vote in either krets, so it must be confirmed.
    unconfirmed = runner.invoke(args=["candidates", "publish", seed.slug])
    assert unconfirmed.exit_code == 1
    assert "--confirm-no-vote" in unconfirmed.output
    assert "Södermalm (SODERMALM): 1 godkänd kandidat för 2 platser" in unconfirmed.output
    assert "Bromma (BROMMA): 1 godkänd kandidat för 1 plats," in unconfirmed.output
    assert entries(db.session, seed.slug, "candidates.published") == []
    result = runner.invoke(args=["candidates", "publish", seed.slug, "--confirm-no-vote"])
    assert result.exit_code == 0, result.output
    assert "No vote: Bromma (BROMMA)" in result.output
    (event,) = entries(db.session, seed.slug, "candidates.published")
    data = json.loads(event.body)["data"]
    assert data["by"] == "cli"
    for contest in data["contests"]:
        assert contest["list_hash"] in result.output
    again = runner.invoke(args=["candidates", "publish", seed.slug, "--confirm-no-vote"])
    assert again.exit_code == 1
    assert "publicerades redan" in again.output
