"""Members whom mail cannot reach: counts per krets, the list, its CSV, the CLI, the page.

A member of the roll is unreachable by mail with no address (missing), a refused address
(bounced) or a refused last mail to the present address (rejected). Before the freeze the
members of the election's kretsar stand in for the roll.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import stat
from datetime import timedelta

import flask_babel
import pytest
from sqlalchemy import func, select

from tests.ballot.conftest import BEFORE, ELECTION, setup_voting
from tests.scheduler.conftest import VOTING_OPENS, add_committee, make_election, publish
from voting.ballot.models import RollEntry
from voting.ballot.unreachable import Reason, reach, unreachable_csv, unreachable_members
from voting.db import db
from voting.elections.models import Election
from voting.elections.services import create_election
from voting.lifecycle.roll import freeze_roll
from voting.log.models import AuditEntry
from voting.mail import transports
from voting.mail.addresses import change_email
from voting.mail.delivery import deliver_due
from voting.mail.errors import PermanentFailure
from voting.mail.models import REJECTED_PREFIX, MailStatus, OutboxMessage
from voting.mail.services import queue_mail
from voting.members.models import Krets, Member
from voting.scheduler.jobs import Status
from voting.scheduler.services import run_due

SLUG = "val-2027"
LIST = f"/admin/val/{SLUG}/epost/onabara"
ROLES = ("anonymous", "auditor", "committee", "admin")
# Who is what in ``_setup``; M is everyone mail reaches.
EXPECTED = [
    ("BROMMA", "B1", Reason.MISSING),
    ("SODERMALM", "S2", Reason.MISSING),
    ("SODERMALM", "S3", Reason.BOUNCED),
    ("SODERMALM", "S4", Reason.REJECTED),
]


def _member(member_id, first, last, krets, email):
    return Member(
        member_id=member_id,
        first_name=first,
        last_name=last,
        email=email,
        krets_code=krets,
        updated_at=BEFORE,
    )


def _mail(session, clock, member_id, to):
    queue_mail(session, to=to, subject="s", body="b", kind="t", now=clock(), member_id=member_id)


def _setup(app, clock, smtp, monkeypatch):
    """Two kretsar and a krets outside the election; each way of being unreachable once."""
    clock.set(BEFORE)
    with db.transaction() as s:
        create_election(s, ELECTION, BEFORE, by="cli")
        s.add(Krets(code="OSTERMALM", name="Östermalm"))
        s.flush()
        s.add_all(
            [
                _member("S1", "Anna", "Berg", "SODERMALM", "s1@example.org"),
                _member("S2", "Bo", "Åberg", "SODERMALM", None),
                _member("S3", "Cecilia", "Dahl", "SODERMALM", "s3@example.org"),
                _member("S4", "David", "Ek", "SODERMALM", "s4@example.org"),
                _member("B1", "=Eva", "Falk", "BROMMA", ""),
                _member("B2", "Filip", "Gran", "BROMMA", "b2@example.org"),
                _member("B3", "Greta", "Holm", "BROMMA", "b3@example.org"),
                _member("O1", "Hugo", "Ivarsson", "OSTERMALM", None),  # not in the election
            ]
        )
        s.flush()
        # S3's address is refused at RCPT TO (a bounce); S4's mail, and B2's first one, are
        # refused for good at DATA; B3's refused mail went to an address B3 no longer has.
        for member_id in ("S3", "S4", "B2"):
            _mail(s, clock, member_id, f"{member_id.lower()}@example.org")
        _mail(s, clock, "B3", "b3-old@example.org")
    smtp.reject.add("s3@example.org")
    real_send = transports.SmtpTransport.send

    def refuse_data(self, message, to_addr):
        if to_addr in ("s4@example.org", "b2@example.org", "b3-old@example.org"):
            raise PermanentFailure(f"{REJECTED_PREFIX}554 5.7.1 Message refused")
        return real_send(self, message, to_addr)

    monkeypatch.setattr(transports.SmtpTransport, "send", refuse_data)
    sessions = app.extensions["db"]["sessionmaker"]
    assert deliver_due(sessions, app.config, clock).failed == 4
    # B2's next mail went through: the rejection is over.
    clock.set(BEFORE + timedelta(minutes=1))
    with db.transaction() as s:
        _mail(s, clock, "B2", "b2@example.org")
    monkeypatch.setattr(transports.SmtpTransport, "send", real_send)
    assert deliver_due(sessions, app.config, clock).sent == 1
    return db.session.scalar(select(Election).where(Election.slug == SLUG))


def _freeze(clock):
    with db.transaction() as s:
        election = s.scalar(select(Election).where(Election.slug == SLUG))
        election.candidates_published_at = clock()
        freeze_roll(s, election, clock(), by="cli")


def _rows(election):
    return [
        (m.krets_code, m.member_id, m.reason) for m in unreachable_members(db.session, election)
    ]


def test_before_the_freeze_the_kretsar_members_are_counted(app, clock, smtp, monkeypatch):
    election = _setup(app, clock, smtp, monkeypatch)

    assert _rows(election) == EXPECTED  # O1 is in no krets of the election
    counted = reach(db.session, election)
    assert not counted.roll_frozen
    by_code = {k.krets_code: k for k in counted.kretsar}
    assert list(by_code) == ["BROMMA", "SODERMALM"]
    assert (by_code["SODERMALM"].members, by_code["SODERMALM"].missing) == (4, 1)
    assert (by_code["SODERMALM"].bounced, by_code["SODERMALM"].rejected) == (1, 1)
    assert (by_code["BROMMA"].members, by_code["BROMMA"].unreachable) == (3, 1)
    assert (counted.members, counted.unreachable) == (7, 4)
    assert counted.summary() == (
        "4 of 7 members of the election's kretsar (roll not frozen) have no usable email "
        "address (missing 2, bounced 1, rejected 1): BROMMA 1, SODERMALM 3"
    )
    [s2] = [m for m in unreachable_members(db.session, election) if m.member_id == "S2"]
    assert (s2.full_name, s2.krets_name) == ("Bo Åberg", "Södermalm")


def test_after_the_freeze_the_roll_is_counted(app, clock, smtp, monkeypatch):
    election = _setup(app, clock, smtp, monkeypatch)
    _freeze(clock)
    with db.transaction() as s:
        # Joins the krets after the freeze: not on the roll, so not counted.
        s.add(_member("S5", "Ida", "Jansson", "SODERMALM", None))

    counted = reach(db.session, election)
    assert counted.roll_frozen
    assert (counted.members, counted.unreachable) == (7, 4)
    assert _rows(election) == EXPECTED
    assert counted.summary().startswith("4 of 7 members on the roll have no usable email")


def test_a_new_address_or_a_new_mail_ends_a_bounce_or_a_rejection(app, clock, smtp, monkeypatch):
    election = _setup(app, clock, smtp, monkeypatch)
    with db.transaction() as s:
        change_email(s, s.get(Member, "S3"), "cecilia@example.org", clock())
        _mail(s, clock, "S4", "s4@example.org")  # queued again: not refused (yet)
        s.get(Member, "B1").email = "eva@example.org"

    assert _rows(election) == [("SODERMALM", "S2", Reason.MISSING)]
    assert reach(db.session, election).unreachable == 1


def test_members_reached_by_post_are_not_unreachable(app, clock, smtp, monkeypatch):
    election = _setup(app, clock, smtp, monkeypatch)
    with db.transaction() as s:
        s.get(Member, "S2").channel = "letter"  # missing address: a letter reaches them
        s.get(Member, "B1").channel = "postal"

    assert _rows(election) == [r for r in EXPECTED if r[1] not in ("S2", "B1")]
    assert reach(db.session, election).unreachable == len(EXPECTED) - 2


def test_csv_is_a_spreadsheet_file_without_formulas(app, clock, smtp, monkeypatch):
    election = _setup(app, clock, smtp, monkeypatch)

    data = unreachable_csv(unreachable_members(db.session, election))

    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["medlemsnummer", "förnamn", "efternamn", "krets", "kretsnamn", "orsak"]
    assert rows[1] == ["B1", "'=Eva", "Falk", "BROMMA", "Bromma", "missing"]
    assert [r[0] for r in rows[1:]] == ["B1", "S2", "S3", "S4"]
    assert [r[5] for r in rows[1:]] == ["missing", "missing", "bounced", "rejected"]


# --- CLI -------------------------------------------------------------------------------------


def test_cli_lists_them_as_text_csv_and_json(app, runner, clock, smtp, monkeypatch, tmp_path):
    _setup(app, clock, smtp, monkeypatch)

    text = runner.invoke(args=["mail", "unreachable", SLUG])
    assert text.exit_code == 0, text.output
    assert "The roll is not frozen yet" in text.output
    assert "S3" in text.output
    assert "Cecilia Dahl" in text.output
    assert "bounced" in text.output
    assert "4 of 7 members of the election's kretsar" in text.output

    out = tmp_path / "unreachable.csv"
    result = runner.invoke(args=["mail", "unreachable", SLUG, "--csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it names members
    lines = out.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[2] == "S2;Bo;Åberg;SODERMALM;Södermalm;missing"
    assert "roll is not frozen" in result.stderr  # said apart from the file

    _freeze(clock)
    result = runner.invoke(args=["mail", "unreachable", SLUG, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["roll_frozen"] is True
    assert document["unreachable"] == 4
    assert document["kretsar"]["SODERMALM"] == {
        "name": "Södermalm",
        "members": 4,
        "unreachable": 3,
        "missing": 1,
        "bounced": 1,
        "rejected": 1,
    }
    assert [(m["member_id"], m["reason"]) for m in document["members"]] == [
        (member_id, reason.value) for _code, member_id, reason in EXPECTED
    ]
    assert "not frozen" not in result.stderr

    csv_out = runner.invoke(args=["mail", "unreachable", SLUG, "--csv"])
    assert csv_out.stdout_bytes.startswith("\ufeffmedlemsnummer;".encode())
    assert runner.invoke(args=["mail", "unreachable", SLUG, "--csv", "--json"]).exit_code == 2
    missing = runner.invoke(args=["mail", "unreachable", "no-such-election"])
    assert missing.exit_code == 1
    assert "no-such-election" in missing.output


def test_mail_status_counts_them_per_election(app, runner, clock, smtp, monkeypatch):
    _setup(app, clock, smtp, monkeypatch)

    text = runner.invoke(args=["mail", "status"])
    assert text.exit_code == 0, text.output
    assert (
        f"{SLUG}: 4 of 7 members of the election's kretsar (roll not frozen) have no usable "
        "email address (missing 2, bounced 1, rejected 1): BROMMA 1, SODERMALM 3"
    ) in text.output
    assert "Bo" not in text.output
    assert "S2" not in text.output

    document = json.loads(runner.invoke(args=["mail", "status", "--json"]).output)
    assert document["failed"] == 4
    assert document["unreachable"][SLUG]["missing"] == 2
    # After the close an election is left out, unless named.
    clock.set(db.session.scalar(select(Election.voting_closes)) + timedelta(seconds=1))
    db.session.rollback()
    assert json.loads(runner.invoke(args=["mail", "status", "--json"]).output)["unreachable"] == {}
    named = runner.invoke(args=["mail", "status", "--json", "--election", SLUG])
    assert json.loads(named.output)["unreachable"][SLUG]["unreachable"] == 4


def test_links_send_says_how_many_get_no_mail(app, runner, clock, rsa_keys, smtp):
    setup_voting(app, clock, rsa_keys, "http://localhost")
    with db.transaction() as s:
        s.get(Member, "S4").email = None
        s.get(Member, "B2").email_bounced_at = clock()
    entries = db.session.scalar(select(func.count()).select_from(AuditEntry))
    db.session.rollback()

    result = runner.invoke(args=["links", "send", SLUG])

    assert result.exit_code == 0, result.output
    assert (
        "2 of 6 members on the roll have no usable email address (missing 1, bounced 1, "
        "rejected 0): BROMMA 1, SODERMALM 1. Mail cannot reach them; list them with "
        f"`voting mail unreachable {SLUG}`."
    ) in result.output
    # The audit log gains only the links event, and no name or member ID goes into it.
    new = db.session.scalars(select(AuditEntry.body).order_by(AuditEntry.seq).offset(entries))
    assert all("S4" not in body and "David" not in body for body in new)


def test_the_send_links_button_says_so_too(app, client, clock, rsa_keys, smtp, login_as):
    setup_voting(app, clock, rsa_keys, "http://localhost")
    with db.transaction() as s:
        s.get(Member, "S4").email = None
    login_as("committee")

    response = client.post(
        f"/admin/val/{SLUG}/rostning/skicka-lankar",
        data={"send-confirm": "y"},
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert (
        "1 medlem i röstlängden har ingen användbar e-postadress och får inget brev; "
        "se sidan E-post."
    ) in page


def test_the_scheduler_line_counts_them_without_names(app, clock, caplog):
    clock.set(VOTING_OPENS - timedelta(days=30))
    with db.transaction() as s:
        election = make_election(s, clock())
        add_committee(s, clock())
        publish(s, election, clock())
        s.flush()
        s.get(Member, "M2").email = None
    clock.set(VOTING_OPENS)

    with caplog.at_level(logging.DEBUG):
        outcomes = {o.job: o for o in run_due(app.config, clock)}
    db.session.rollback()

    opened = outcomes["voting_opens"]
    assert opened.status is Status.DONE
    assert opened.detail.endswith(
        "1 of 6 members on the roll have no usable email address (missing 1, bounced 0, "
        "rejected 0): SODERMALM 1"
    )
    assert "M2" not in str(opened)
    assert "Efternamn" not in str(opened)
    assert "M2" not in caplog.text
    assert "Efternamn2" not in caplog.text


# --- The committee's pages --------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url", [LIST, LIST + ".csv"])
def test_access(app, client, clock, smtp, monkeypatch, login_as, role, url):
    _setup(app, clock, smtp, monkeypatch)
    if role != "anonymous":
        login_as(role)
    response = client.get(url)
    if role == "anonymous":
        assert response.status_code == 302
        assert response.location.startswith("/admin/login?next=")
    elif role == "auditor":
        assert response.status_code == 403  # names: committee only
    else:
        assert response.status_code == 200
    # Read-only: no other method is routed.
    assert client.post(url).status_code in (302, 403, 405)
    if role in ("committee", "admin"):
        assert client.post(url).status_code == 405


def test_mail_page_shows_counts_per_krets_and_links_to_the_list(
    app, client, clock, smtp, monkeypatch, login_as
):
    _setup(app, clock, smtp, monkeypatch)
    login_as("committee")

    page = client.get(f"/admin/val/{SLUG}/epost").get_data(as_text=True)

    assert "Medlemmar som e-posten inte når" in page
    assert "Röstlängden är inte fryst än" in page
    row = page.split("Södermalm <span", 1)[1].split("</tr>", 1)[0]
    assert [int(cell.split("<")[0]) for cell in row.split("<td>")[1:]] == [4, 1, 1, 1, 3]
    assert LIST in page
    assert LIST + ".csv" in page
    assert "Åberg" not in page.split("onabara", 1)[1].split("</table>", 1)[0]  # counts only

    _freeze(clock)
    page = client.get(f"/admin/val/{SLUG}/epost").get_data(as_text=True)
    assert "Röstlängden är inte fryst än" not in page


def test_list_page_and_csv(app, client, clock, smtp, monkeypatch, login_as):
    _setup(app, clock, smtp, monkeypatch)
    login_as("committee")

    page = client.get(LIST).get_data(as_text=True)
    assert "4 medlemmar får ingen e-post." in page
    for text in ("S2", "Bo Åberg", "Ingen e-postadress", "Adressen studsade", "Brevet avvisades"):
        assert text in page
    assert "Anna Berg" not in page
    assert "Hugo" not in page
    flask_babel.refresh()  # the test's one app context caches the locale (tests/test_i18n.py)
    english = client.get(LIST + "?lang=en").get_data(as_text=True)
    assert "No email address" in english
    assert "4 members get no email." in english
    flask_babel.refresh()

    response = client.get(LIST + ".csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (f'attachment; filename="{SLUG}-onabara.csv"')
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data == unreachable_csv(
        unreachable_members(db.session, db.session.scalar(select(Election)))
    )


def test_the_pages_write_nothing_to_the_log(app, client, clock, smtp, monkeypatch, login_as):
    _setup(app, clock, smtp, monkeypatch)
    login_as("committee")
    before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    db.session.rollback()
    client.get(LIST)
    client.get(LIST + ".csv")
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_roll_entries_and_outbox_rows_are_as_set_up(app, clock, smtp, monkeypatch):
    """The set-up itself: the refusals are recorded the way delivery records them."""
    _setup(app, clock, smtp, monkeypatch)
    failed = dict(
        db.session.execute(
            select(OutboxMessage.to_addr, OutboxMessage.last_error).where(
                OutboxMessage.status == MailStatus.FAILED
            )
        ).all()
    )
    assert failed["s3@example.org"].startswith("rejected: 550")
    assert failed["s4@example.org"].startswith("rejected: 554")
    assert db.session.get(Member, "S3").email_bounced_at is not None
    assert db.session.get(Member, "S4").email_bounced_at is None  # DATA-stage: no bounce mark
    assert db.session.scalar(select(func.count()).select_from(RollEntry)) == 0
