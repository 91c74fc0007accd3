"""The code form's CSRF and rate limit, the committee's letters page, the CLI, the scheduler."""

from __future__ import annotations

import json
import re
import stat
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from tests.conftest import make_app
from tests.factories import make_staff_quick
from tests.letters.conftest import (
    ADDRESSES,
    codes_in,
    election_now,
    pdf_text,
    set_address,
    setup_letters,
)
from voting.admin.services import start_session
from voting.ballot.models import LETTER, LinkMove, VoterLink
from voting.db import db
from voting.letters import services
from voting.letters.models import LetterBatch
from voting.log.models import AuditEntry
from voting.mail.models import OutboxMessage
from voting.members.models import Member

PAGE = "/admin/val/val-2027/brev"


def _events(kind: str) -> list[dict]:
    rows = db.session.scalars(
        select(AuditEntry).where(AuditEntry.type == kind).order_by(AuditEntry.seq)
    ).all()
    return [json.loads(r.body)["data"] for r in rows]


@pytest.fixture
def strict(database_url, clock, _smtp_server, tmp_path, rsa_keys):
    """An app with CSRF and the rate limiter on (the shipped default limit), mid-vote."""
    application = make_app(
        database_url,
        clock,
        _smtp_server.port,
        tmp_path,
        RATELIMIT_ENABLED=True,
        WTF_CSRF_ENABLED=True,
    )
    with application.app_context():
        setup = setup_letters(clock, rsa_keys)
        yield application, setup
    application.extensions["db"]["engine"].dispose()


def _csrf(client) -> str:
    page = client.get("/rosta/kod").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    return token.group(1)


def test_the_code_form_needs_its_csrf_token(strict):
    app, setup = strict
    client = app.test_client()
    code = codes_in(setup.pdf)[0]
    refused = client.post("/rosta/kod", data={"code": code})
    assert refused.status_code == 400
    assert "ballot" not in (refused.headers.get("Location") or "")
    opened = client.post("/rosta/kod", data={"code": code, "csrf_token": _csrf(client)})
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith("/rosta")


def test_the_eleventh_code_in_a_minute_from_one_address_is_refused(strict):
    app, setup = strict
    assert app.config["RATELIMIT_LETTER_CODES"] == "10 per minute;50 per hour"
    client = app.test_client()
    token = _csrf(client)
    for _ in range(10):
        wrong = client.post("/rosta/kod", data={"code": "2222-2222-2222-2222", "csrf_token": token})
        assert wrong.status_code == 403
    # Even the right code: the address has used its budget.
    right = codes_in(setup.pdf)[0]
    limited = client.post("/rosta/kod", data={"code": right, "csrf_token": token})
    assert limited.status_code == 429
    assert "För många försök" in limited.get_data(as_text=True)
    # Showing the form is not limited.
    assert client.get("/rosta/kod").status_code == 200


# --- The committee's page -------------------------------------------------------------------


@pytest.fixture
def committee(client, clock):
    def login(role: str = "committee") -> int:
        with db.transaction() as s:
            uid = make_staff_quick(s, role, clock()).id
        with client.session_transaction() as cookie:
            start_session(cookie, SimpleNamespace(id=uid, session_epoch=0), clock())
        return uid

    return login


def test_the_page_makes_new_letters_and_hands_the_pdf_out_once(letters, client, committee):
    uid = committee()
    page = client.get(PAGE)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="letter-members">2<' in text
    assert 'id="letter-batches-none"' in text
    refused = client.post(PAGE + "/nya", data={})
    assert refused.status_code == 400
    made = client.post(PAGE + "/nya", data={"issue-confirm": "y"})
    assert made.status_code == 302
    [(batch_id, _at, count)] = services.waiting(db.session, election_now())
    assert count == 2
    assert _events("letters.issued")[-1] == {"count": 2, "by": uid}
    download = client.post(f"{PAGE}/{batch_id}/ladda-ner")
    assert download.status_code == 200
    assert download.mimetype == "application/pdf"
    assert download.headers["Cache-Control"] == "no-store"
    assert "attachment" in download.headers["Content-Disposition"]
    assert len(codes_in(download.data)) == 2
    again = client.post(f"{PAGE}/{batch_id}/ladda-ner")
    assert again.status_code == 404
    assert "breven är redan nedladdade" in again.get_data(as_text=True)


def test_a_replacement_on_the_page_and_a_move_waits_for_another_member(letters, client, committee):
    committee()
    done = client.post(PAGE + "/ersatt", data={"replace-member_id": "B2"})
    assert done.status_code == 302
    assert len(services.waiting(db.session, election_now())) == 1
    refused = client.post(PAGE + "/ersatt", data={"replace-member_id": "S1"})
    assert refused.status_code == 400
    assert "röstkanal är inte brev" in refused.get_data(as_text=True)
    with db.transaction() as s:
        set_address(s.get_one(Member, "S4"), {**ADDRESSES["S4"], "city": "Solna"})
    asked = client.post(PAGE + "/ersatt", data={"replace-member_id": "S4"})
    assert asked.status_code == 302
    move = db.session.scalar(select(LinkMove))
    assert move is not None
    assert move.kind == LETTER
    assert move.status == "pending"
    assert len(services.waiting(db.session, election_now())) == 1  # nothing new yet


def test_an_auditor_may_not_see_the_letters_page(letters, client, committee):
    committee("auditor")
    assert client.get(PAGE).status_code == 403


# --- The command line -----------------------------------------------------------------------


def test_the_cli_makes_letters_and_writes_them_once_mode_0600(letters, runner, tmp_path):
    made = runner.invoke(args=["letters", "issue", "val-2027"])
    assert made.exit_code == 0, made.output
    assert "Made 2 letters." in made.output
    out = tmp_path / "brev.pdf"
    written = runner.invoke(args=["letters", "pdf", "val-2027", "-o", str(out)])
    assert written.exit_code == 0, written.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(codes_in(out.read_bytes())) == 2
    again = runner.invoke(args=["letters", "pdf", "val-2027", "-o", str(tmp_path / "b.pdf")])
    assert again.exit_code != 0
    assert "no letters are waiting" in again.output
    replaced = runner.invoke(args=["letters", "replace", "val-2027", "B2"])
    assert replaced.exit_code == 0, replaced.output
    exists = runner.invoke(args=["letters", "pdf", "val-2027", "-o", str(out)])
    assert exists.exit_code != 0
    assert "exists already" in exists.output
    assert len(services.waiting(db.session, election_now())) == 1  # still there


def test_the_cli_refuses_a_move(letters, runner):
    with db.transaction() as s:
        set_address(s.get_one(Member, "B2"), {**ADDRESSES["B2"], "street": "Annan väg 2"})
    refused = runner.invoke(args=["letters", "replace", "val-2027", "B2"])
    assert refused.exit_code != 0
    assert "second committee member must approve" in refused.output


# --- The scheduler --------------------------------------------------------------------------


def test_the_voting_open_makes_letters_before_the_links(app, clock):
    from tests.scheduler.conftest import VOTING_OPENS
    from tests.scheduler.test_jobs import _run, _setup

    slug, _staff = _setup(clock)
    with db.transaction() as s:
        member = s.get_one(Member, "M1")
        member.channel = "letter"
        set_address(member, ADDRESSES["S4"])
    clock.set(VOTING_OPENS)
    done = _run(app, clock)
    assert "1 voting letters made" in done["voting_opens"].detail
    kinds = dict(
        db.session.execute(select(VoterLink.kind, func.count()).group_by(VoterLink.kind)).all()
    )
    assert kinds == {"link": 5, "letter": 1}
    mailed = db.session.scalars(
        select(OutboxMessage.member_id).where(OutboxMessage.kind == "voter_link")
    ).all()
    assert "M1" not in mailed
    assert len(mailed) == 5
    [batch] = db.session.scalars(select(LetterBatch)).all()
    assert batch.letters == 1
    assert batch.pdf_enc is not None
    assert _events("letters.issued") == [{"count": 1, "by": "scheduler"}]
    assert slug == "val-2027"


def test_without_letter_members_the_open_logs_no_letters(app, clock):
    from tests.scheduler.conftest import VOTING_OPENS
    from tests.scheduler.test_jobs import _run, _setup

    _setup(clock)
    clock.set(VOTING_OPENS)
    _run(app, clock)
    assert _events("letters.issued") == []
    assert db.session.scalar(select(func.count()).select_from(LetterBatch)) == 0


def test_a_letter_move_is_approved_on_the_mail_page_by_another_member(
    letters, client, committee, clock
):
    asker = committee()
    with db.transaction() as s:
        set_address(s.get_one(Member, "S4"), {**ADDRESSES["S4"], "city": "Solna"})
    assert client.post(PAGE + "/ersatt", data={"replace-member_id": "S4"}).status_code == 302
    move = db.session.scalar(select(LinkMove))
    assert move is not None
    move_id = move.id
    db.session.rollback()
    mail_page = client.get("/admin/val/val-2027/epost").get_data(as_text=True)
    assert "David Ek (S4): ett röstbrev till postadressen i registret" in mail_page
    other = committee()
    assert other != asker
    decided = client.post(f"/admin/val/val-2027/epost/flytt/{move_id}/godkann")
    assert decided.status_code == 302
    [(batch_id, _at, count)] = services.waiting(db.session, election_now())
    assert count == 1
    pdf = client.post(f"{PAGE}/{batch_id}/ladda-ner").data
    assert "SOLNA" in " ".join(pdf_text(pdf))
