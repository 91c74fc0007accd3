"""The committee's voting page: access per role, and each button's effect and error path."""

from __future__ import annotations

import hashlib
import json
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from ballots.client import VoterClient
from tests.ballot.conftest import (
    AFTER,
    BEFORE,
    DURING,
    ELECTION,
    flask_transport,
    setup_voting,
)
from tests.conftest import make_app
from tests.factories import make_staff_quick, member_row
from voting.admin.services import start_session
from voting.ballot.keys import store_contest_key
from voting.ballot.models import BoardSeal, RollEntry, RollFreeze, VoterLink
from voting.crypto import pseudonym
from voting.db import db
from voting.elections.services import create_election
from voting.log.models import AuditEntry
from voting.mail.models import OutboxMessage
from voting.nominations.models import Nomination, NominationStatus

ROLES = ("anonymous", "auditor", "committee", "admin")
RANK = {"anonymous": 0, "auditor": 1, "committee": 2, "admin": 3}
BASE = "/admin/val/{slug}/rostning"

# (method, url, form data, lowest role allowed, status for an allowed role). The election is
# mid-vote with its roll frozen, so freezing again and sealing are blocked (409).
ROUTES = [
    ("GET", BASE, None, "auditor", 200),
    ("POST", BASE + "/frys", {"freeze-confirm": "y"}, "committee", 409),
    ("POST", BASE + "/skicka-lankar", {"send-confirm": "y"}, "committee", 302),
    ("POST", BASE + "/paminn", {"remind-confirm": "y"}, "committee", 302),
    ("POST", BASE + "/lagg-till", {"add-member_id": "S9"}, "committee", 302),
    ("POST", BASE + "/ny-lank", {"resend-member_id": "S1"}, "committee", 302),
    ("POST", BASE + "/forsegla", {"seal-confirm": "y"}, "committee", 409),
]


def _add_late_member(member_id: str = "S9") -> None:
    """A member who joined the register after the roll was frozen."""
    with db.transaction() as s:
        s.add(member_row(member_id, "Greta", "Hall", "SODERMALM", BEFORE))


@pytest.fixture
def mid_vote(app, clock, rsa_keys):
    """An election in its voting window: roll frozen, links queued, plus one late member."""
    setup = setup_voting(app, clock, rsa_keys, "http://localhost")
    _add_late_member()
    return setup


def unfrozen(clock, rsa_keys, *, publish: bool = True) -> str:
    """The same election, but no roll and no links yet (candidates published if ``publish``)."""
    clock.set(BEFORE)
    with db.transaction() as s:
        election = create_election(s, ELECTION, BEFORE, by="cli")
        s.flush()
        s.add_all(
            [
                member_row(mid, first, "Test", krets, BEFORE)
                for mid, first, krets in [
                    ("S1", "Anna", "SODERMALM"),
                    ("S2", "Bo", "SODERMALM"),
                    ("S3", "Cecilia", "SODERMALM"),
                    ("B1", "Eva", "BROMMA"),
                ]
            ]
        )
        s.flush()
        if publish:
            contests = {c.krets_code: c for c in election.contests}
            # Södermalm votes (3 candidates, 2 seats); Bromma does not (1 candidate, 1 seat).
            nominees = (("S1", "SODERMALM"), ("S2", "SODERMALM"), ("S3", "SODERMALM"))
            for member_id, krets in (*nominees, ("B1", "BROMMA")):
                s.add(
                    Nomination(
                        election_id=election.id,
                        contest_id=contests[krets].id,
                        member_id=member_id,
                        status=NominationStatus.APPROVED,
                        created_at=BEFORE,
                    )
                )
            for contest in election.contests:
                contest.list_hash = hashlib.sha256(contest.krets_code.encode()).hexdigest()
            election.candidates_published_at = BEFORE
            for contest, key in zip(election.contests, rsa_keys, strict=True):
                store_contest_key(s, contest, key, BEFORE)
        slug = election.slug
    clock.set(DURING)
    return slug


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _events(kind: str) -> list[dict]:
    return [
        json.loads(e.body)
        for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.type == kind).order_by(AuditEntry.seq)
        )
    ]


def _voter_mails() -> int:
    return _count(OutboxMessage, OutboxMessage.kind == "voter_link")


def _flashes(response) -> list[str]:
    page = response.get_data(as_text=True)
    return re.findall(r'<p class="flash (?:error|success)"[^>]*>(.*?)</p>', page, re.S)


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "template", "data", "lowest", "ok"), ROUTES)
def test_access(client, mid_vote, login_as, role, method, template, data, lowest, ok):
    url = template.format(slug=mid_vote.slug)
    if role != "anonymous":
        login_as(role)
    writes_before = _count(AuditEntry)
    response = client.open(url, method=method, data=data)
    if role == "anonymous":
        assert response.status_code == 302
        assert response.location.startswith("/admin/login?next=")
    elif RANK[role] < RANK[lowest]:
        assert response.status_code == 403
    else:
        assert response.status_code == ok, response.get_data(as_text=True)[:2000]
    if ok != 302 or RANK[role] < RANK[lowest]:
        assert _count(AuditEntry) == writes_before  # refused or blocked: nothing logged


@pytest.mark.parametrize("role", ROLES)
def test_public_board_is_open_to_everyone(client, mid_vote, login_as, role):
    if role != "anonymous":
        login_as(role)
    assert client.get(f"/val/{mid_vote.slug}/anslagstavla").status_code == 200


def test_auditor_sees_counts_but_no_forms(client, mid_vote, login_as):
    login_as("auditor")
    page = client.get(BASE.format(slug=mid_vote.slug)).get_data(as_text=True)
    assert "Södermalm" in page
    assert "/rostning/" not in page  # no form posts anywhere on the page
    assert "Medlemsnummer" not in page
    assert "Du kan se läget men inte ändra något." in page


def test_committee_sees_counts_and_buttons(client, mid_vote, login_as):
    VoterClient("http://localhost", mid_vote.tokens["S1"], transport=flask_transport(client)).vote(
        mid_vote.slug, mid_vote.contests["SODERMALM"], mid_vote.candidates["SODERMALM"][:2]
    )
    login_as("committee")
    page = client.get(BASE.format(slug=mid_vote.slug)).get_data(as_text=True)
    row = re.search(r"Södermalm <span[^>]*>\(SODERMALM\)</span></th>(.*?)</tr>", page, re.S)
    assert row is not None
    assert re.findall(r"<td>(\d+)</td>", row.group(1)) == ["4", "1", "1"]  # roll, signed, board
    assert "6 köade" in page  # the six voter-link mails in the outbox
    freeze = db.session.scalars(select(RollFreeze)).one()
    assert freeze.roll_hash in page
    for action in ("skicka-lankar", "paminn", "lagg-till", "ny-lank"):
        assert f"/rostning/{action}" in page
    assert "/rostning/frys" not in page  # already frozen
    assert "/rostning/forsegla" not in page  # not closed yet
    # Counts only: no voter's name or member number appears.
    assert "Anna" not in page
    # As a word: the random CSRF tokens on the page may hold "S1" by chance.
    assert not re.search(r"(?<![\w-])S1(?![\w-])", page)
    assert 'name="add-member_id"' in page
    assert "style=" not in page
    assert "<script" not in page


def test_election_overview_links_the_voting_page(client, mid_vote, login_as):
    login_as("auditor")
    page = client.get(f"/admin/val/{mid_vote.slug}/").get_data(as_text=True)
    assert f'href="/admin/val/{mid_vote.slug}/rostning"' in page


# --- Freeze ---------------------------------------------------------------------------------


def test_freeze_puts_the_register_on_the_roll_and_logs_it(client, clock, rsa_keys, login_as):
    slug = unfrozen(clock, rsa_keys)
    staff = login_as("committee")
    response = client.post(
        BASE.format(slug=slug) + "/frys", data={"freeze-confirm": "y"}, follow_redirects=True
    )
    assert response.status_code == 200
    assert _flashes(response) == ["Röstlängden är fryst: 4 medlemmar."]
    assert _count(RollEntry) == 4
    assert _count(RollFreeze) == 1
    [event] = _events("roll.frozen")
    assert {c["krets"]: c["size"] for c in event["data"]["contests"]} == {
        "BROMMA": 1,
        "SODERMALM": 3,
    }
    assert event["data"]["by"] == staff
    again = client.post(BASE.format(slug=slug) + "/frys", data={"freeze-confirm": "y"})
    assert again.status_code == 409
    assert _flashes(again) == ["Röstlängden kunde inte frysas: röstlängden är redan fryst"]
    assert len(_events("roll.frozen")) == 1


def test_freeze_needs_the_confirmation_box(client, clock, rsa_keys, login_as):
    slug = unfrozen(clock, rsa_keys)
    login_as("committee")
    response = client.post(BASE.format(slug=slug) + "/frys", data={})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Kryssa i rutan för att bekräfta." in page
    assert 'aria-describedby="freeze-confirm-error"' in page
    assert _count(RollEntry) == 0
    assert _count(RollFreeze) == 0


def test_freeze_before_publication_names_the_blocker(client, clock, rsa_keys, login_as):
    slug = unfrozen(clock, rsa_keys, publish=False)
    login_as("admin")
    response = client.post(BASE.format(slug=slug) + "/frys", data={"freeze-confirm": "y"})
    assert response.status_code == 409
    assert _flashes(response) == [
        "Röstlängden kunde inte frysas: kandidatlistorna är inte publicerade"
    ]
    assert _count(RollEntry) == 0
    assert _events("roll.frozen") == []


def test_freeze_is_refused_without_a_csrf_token(request, database_url, clock, tmp_path, rsa_keys):
    smtp_port = request.getfixturevalue("_smtp_server").port
    csrf_app = make_app(database_url, clock, smtp_port, tmp_path, WTF_CSRF_ENABLED=True)
    with csrf_app.app_context():
        slug = unfrozen(clock, rsa_keys)
        with db.transaction() as s:
            uid = make_staff_quick(s, "committee", clock()).id
        client = csrf_app.test_client()
        with client.session_transaction() as cookie:
            start_session(cookie, SimpleNamespace(id=uid, session_epoch=0), clock())
        response = client.post(BASE.format(slug=slug) + "/frys", data={"freeze-confirm": "y"})
        assert response.status_code == 400
        assert _count(RollFreeze) == 0
        # With the token the page's form carries, the same button works.
        page = client.get(BASE.format(slug=slug)).get_data(as_text=True)
        token = re.search(r'name="freeze-csrf_token" type="hidden" value="([^"]+)"', page)
        assert token is not None
        response = client.post(
            BASE.format(slug=slug) + "/frys",
            data={"freeze-confirm": "y", "freeze-csrf_token": token.group(1)},
        )
        assert response.status_code == 302
        assert _count(RollFreeze) == 1
    csrf_app.extensions["db"]["engine"].dispose()


# --- Links ----------------------------------------------------------------------------------


def test_send_links_freezes_and_queues_one_link_per_member(client, clock, rsa_keys, login_as):
    slug = unfrozen(clock, rsa_keys)
    staff = login_as("committee")
    response = client.post(
        BASE.format(slug=slug) + "/skicka-lankar",
        data={"send-confirm": "y"},
        follow_redirects=True,
    )
    # Bromma holds no vote: its member gets a notice instead of a link.
    assert _flashes(response) == ["3 röstlänkar är köade i utkorgen."]
    assert _count(RollFreeze) == 1
    assert _count(VoterLink) == 3
    assert _voter_mails() == 3
    assert _count(OutboxMessage, OutboxMessage.kind == "no_vote_notice") == 1
    # The log names the staff account that sent them.
    assert _events("links.sent")[0]["data"] == {"count": 3, "no_vote_notices": 1, "by": staff}
    # Sending again queues nothing new: everyone already has a live link or the notice.
    client.post(BASE.format(slug=slug) + "/skicka-lankar", data={"send-confirm": "y"})
    assert _voter_mails() == 3
    assert _count(OutboxMessage, OutboxMessage.kind == "no_vote_notice") == 1


def test_send_links_after_the_close_is_blocked(client, clock, rsa_keys, login_as):
    slug = unfrozen(clock, rsa_keys)
    clock.set(AFTER)
    login_as("committee")
    response = client.post(BASE.format(slug=slug) + "/skicka-lankar", data={"send-confirm": "y"})
    assert response.status_code == 409
    assert _flashes(response) == ["Röstlänkarna kunde inte skickas: röstningen har stängt"]
    assert _count(VoterLink) == 0
    assert _voter_mails() == 0
    assert _count(RollFreeze) == 0


def test_remind_mails_only_those_who_have_not_voted(client, mid_vote, login_as):
    VoterClient("http://localhost", mid_vote.tokens["B1"], transport=flask_transport(client)).vote(
        mid_vote.slug, mid_vote.contests["BROMMA"], mid_vote.candidates["BROMMA"][:1]
    )
    staff = login_as("committee")
    before = _voter_mails()
    response = client.post(
        BASE.format(slug=mid_vote.slug) + "/paminn",
        data={"remind-confirm": "y"},
        follow_redirects=True,
    )
    assert _flashes(response) == ["5 påminnelser är köade i utkorgen."]
    assert _voter_mails() == before + 5
    assert _events("links.reminded")[0]["data"] == {"count": 5, "by": staff}
    reminded = db.session.scalars(
        select(OutboxMessage.to_addr).where(OutboxMessage.subject.startswith("Påminnelse"))
    ).all()
    assert "B1@example.org" not in reminded
    assert "S1@example.org" in reminded


def test_remind_before_voting_opens_is_blocked(client, mid_vote, login_as, clock):
    clock.set(BEFORE)
    login_as("committee")
    before = _voter_mails()
    response = client.post(
        BASE.format(slug=mid_vote.slug) + "/paminn", data={"remind-confirm": "y"}
    )
    assert response.status_code == 409
    assert _flashes(response) == ["Påminnelserna kunde inte skickas: röstningen pågår inte"]
    assert _voter_mails() == before
    assert _events("links.reminded") == []


def test_resend_revokes_the_old_link(client, mid_vote, login_as):
    old = mid_vote.tokens["S2"]
    uid = login_as("committee")
    response = client.post(
        BASE.format(slug=mid_vote.slug) + "/ny-lank",
        data={"resend-member_id": " S2 "},
        follow_redirects=True,
    )
    assert _flashes(response) == [
        "En ny röstlänk till medlem S2 är köad; den gamla fungerar inte längre."
    ]
    links = db.session.scalars(select(VoterLink).where(VoterLink.member_id == "S2")).all()
    assert sorted(link.revoked_at is None for link in links) == [False, True]
    assert client.get(f"/rosta/{old}").status_code == 403
    [event] = _events("links.resent")
    assert event["data"] == {"voter": pseudonym("S2", mid_vote.slug), "by": uid}


@pytest.mark.parametrize(
    ("member_id", "reason"),
    [
        ("NOPE", "Medlemsnummer: ingen medlem med numret NOPE"),
        ("S9", "medlemmen finns inte i röstlängden"),
        ("", "Ange medlemsnumret."),
    ],
)
def test_resend_errors_are_flashed_and_nothing_is_written(
    client, mid_vote, login_as, member_id, reason
):
    login_as("committee")
    links_before, mails_before = _count(VoterLink), _voter_mails()
    response = client.post(
        BASE.format(slug=mid_vote.slug) + "/ny-lank", data={"resend-member_id": member_id}
    )
    assert response.status_code == 400
    assert _flashes(response) == [f"Ingen ny röstlänk kunde skickas: {reason}"]
    assert 'aria-invalid="true"' in response.get_data(as_text=True) or member_id == "S9"
    assert (_count(VoterLink), _voter_mails()) == (links_before, mails_before)
    assert _count(VoterLink, VoterLink.revoked_at.is_not(None)) == 0
    assert _events("links.resent") == []


# --- Adding to the roll ---------------------------------------------------------------------


def test_add_to_roll_is_logged_by_pseudonym(client, mid_vote, login_as):
    staff = login_as("committee")
    response = client.post(
        BASE.format(slug=mid_vote.slug) + "/lagg-till",
        data={"add-member_id": "S9"},
        follow_redirects=True,
    )
    assert _flashes(response) == [
        "Medlem S9 är tillagd i röstlängden. Skicka en röstlänk till hen nedan."
    ]
    entry = db.session.scalars(select(RollEntry).where(RollEntry.member_id == "S9")).one()
    assert entry.source == "committee"
    [event] = _events("roll.member_added")
    assert event["data"]["voter"] == pseudonym("S9", mid_vote.slug)
    assert event["data"]["by"] == staff
    assert "S9" not in json.dumps(event)
    # Then a link for the added member, from the same page.
    client.post(BASE.format(slug=mid_vote.slug) + "/ny-lank", data={"resend-member_id": "S9"})
    assert _count(VoterLink, VoterLink.member_id == "S9", VoterLink.revoked_at.is_(None)) == 1


def test_add_to_roll_errors(client, mid_vote, login_as):
    login_as("admin")
    url = BASE.format(slug=mid_vote.slug) + "/lagg-till"
    response = client.post(url, data={"add-member_id": "S1"})
    assert response.status_code == 400
    assert _flashes(response) == [
        "Medlemmen kunde inte läggas till: medlemmen finns redan i röstlängden"
    ]
    response = client.post(url, data={"add-member_id": "X404"})
    assert response.status_code == 400
    assert "ingen medlem med numret X404" in _flashes(response)[0]
    assert _count(RollEntry, RollEntry.source == "committee") == 0
    assert _events("roll.member_added") == []


def test_add_to_an_unfrozen_roll_is_blocked(client, clock, rsa_keys, login_as):
    slug = unfrozen(clock, rsa_keys)
    login_as("committee")
    response = client.post(BASE.format(slug=slug) + "/lagg-till", data={"add-member_id": "S1"})
    assert response.status_code == 409
    assert _flashes(response) == [
        "Medlemmen kunde inte läggas till: röstlängden är inte fryst än; "
        "medlemmen kommer med när den fryses"
    ]
    assert _count(RollEntry) == 0


# --- Sealing the board ----------------------------------------------------------------------


def test_seal_is_refused_before_the_close_and_done_after(client, mid_vote, login_as, clock):
    VoterClient("http://localhost", mid_vote.tokens["S1"], transport=flask_transport(client)).vote(
        mid_vote.slug, mid_vote.contests["SODERMALM"], mid_vote.candidates["SODERMALM"][:2]
    )
    login_as("committee")
    url = BASE.format(slug=mid_vote.slug) + "/forsegla"
    early = client.post(url, data={"seal-confirm": "y"})
    assert early.status_code == 409
    assert _flashes(early) == ["Anslagstavlan kunde inte förseglas: röstningen har inte stängt än"]
    assert _count(BoardSeal) == 0
    assert _events("board.sealed") == []

    clock.set(AFTER)
    staff = login_as("committee")  # the first login has timed out by now
    page = client.get(BASE.format(slug=mid_vote.slug)).get_data(as_text=True)
    assert "/rostning/forsegla" in page  # the button shows once voting has closed
    done = client.post(url, data={"seal-confirm": "y"}, follow_redirects=True)
    assert _flashes(done) == ["Anslagstavlan är förseglad i granskningsloggen: 1 röstsedel."]
    assert _count(BoardSeal) == 1
    [event] = _events("board.sealed")
    soder = next(c for c in event["data"]["contests"] if c["krets"] == "SODERMALM")
    assert (soder["ballots"], soder["signatures_issued"], soder["roll_size"]) == (1, 1, 4)
    assert event["data"]["by"] == staff

    again = client.post(url, data={"seal-confirm": "y"})
    assert again.status_code == 409
    assert _flashes(again) == [
        "Anslagstavlan kunde inte förseglas: anslagstavlan är redan förseglad"
    ]
    assert len(_events("board.sealed")) == 1


def test_unknown_election_is_404(client, mid_vote, login_as):
    login_as("committee")
    assert client.get("/admin/val/nope/rostning").status_code == 404
    assert (
        client.post("/admin/val/nope/rostning/frys", data={"freeze-confirm": "y"}).status_code
        == 404
    )
