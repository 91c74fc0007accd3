"""Voting letters: codes, their storage, revocation, the code form and a vote with a code."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from tests.factories import make_staff_quick
from tests.letters.conftest import (
    ADDRESSES,
    CONTACT,
    codes_in,
    election_now,
    session_client,
    set_address,
)
from voting.ballot.models import LETTER, LinkMove, VoterLink
from voting.crypto import token_hash
from voting.db import db
from voting.errors import VotingError
from voting.letters import codes, services
from voting.letters.models import LetterBatch
from voting.letters.moves import decide
from voting.log.models import AuditEntry
from voting.members.models import Member


def _events(kind: str) -> list[dict]:
    """The payloads (``data``) of the log's entries of ``kind``."""
    rows = db.session.scalars(
        select(AuditEntry).where(AuditEntry.type == kind).order_by(AuditEntry.seq)
    ).all()
    return [json.loads(r.body)["data"] for r in rows]


# --- The code's form ------------------------------------------------------------------------


def test_a_new_code_is_16_symbols_in_groups_of_four_without_ambiguous_ones():
    seen = {codes.new_code() for _ in range(200)}
    assert len(seen) == 200
    for code in seen:
        assert codes.CODE_RE.fullmatch(code), code
        assert not set(code) & set("01ILOU")


@pytest.mark.parametrize(
    "typed",
    ["k7qf-3mxr-9tab-h2pw", " K7QF 3MXR 9TAB H2PW ", "K7QF3MXR9TABH2PW", "k7qf–3mxr—9tab h2pw"],
)
def test_case_spaces_and_dashes_are_forgiven(typed):
    assert codes.normalize(typed) == "K7QF-3MXR-9TAB-H2PW"


@pytest.mark.parametrize(
    "typed",
    ["", "K7QF-3MXR-9TAB", "K7QF-3MXR-9TAB-H2PW-2", "K7QF-3MXR-9TAB-H2P0", "K7QF-3MXR-9TAB-H2PI"],
)
def test_what_is_not_a_code_is_refused(typed):
    assert codes.normalize(typed) is None


# --- Issuing --------------------------------------------------------------------------------


def test_letter_members_get_codes_stored_only_as_keyed_hashes(letters):
    printed = codes_in(letters.pdf)
    assert len(printed) == 2  # S4 and B2
    rows = db.session.scalars(select(VoterLink).where(VoterLink.kind == LETTER)).all()
    assert sorted(r.member_id for r in rows) == ["B2", "S4"]
    stored = {r.token_hash for r in rows}
    assert stored == {codes.code_hash(c) for c in printed}
    # Neither the code nor its plain SHA-256 is in the table: only the keyed hash.
    dump = " ".join(
        str(v) for row in db.session.execute(sa.text("SELECT * FROM voter_link")) for v in row
    )
    for code in printed:
        assert code not in dump
        assert code.replace("-", "") not in dump
        assert token_hash(code) not in dump
    # The letter members got no mailed link: the letters came first.
    assert set(letters.tokens) == {"S1", "S2", "S3", "B1"}


def test_the_log_records_counts_never_members(letters):
    issued = _events("letters.issued")
    assert issued == [{"count": 2, "by": "scheduler"}]
    downloaded = _events("letters.downloaded")
    assert downloaded == [{"count": 2, "by": "cli"}]
    text = " ".join(str(e) for e in issued + downloaded)
    assert "S4" not in text
    assert "B2" not in text
    assert "m:" not in text


def test_the_pdf_is_stored_encrypted_and_handed_out_once(letters):
    batch = db.session.get(LetterBatch, letters.batch_id)
    assert batch is not None
    assert batch.pdf_enc is None
    assert batch.downloaded_at is not None
    with pytest.raises(VotingError) as refused:
        services.download(db.session, election_now(), letters.batch_id, letters_clock(), by="cli")
    assert refused.value.code == "no_letters"


def letters_clock():
    from flask import current_app

    return current_app.config["CLOCK"]()


def test_regenerating_revokes_the_old_codes_and_issues_new_ones(letters, client, clock):
    old = codes_in(letters.pdf)
    with db.transaction() as s:
        done = services.issue_letters(s, election_now(), clock(), "http://localhost", CONTACT, by=7)
        pdf = services.download(s, election_now(), done.batch.id, clock(), by=7)
    new = codes_in(pdf)
    assert len(new) == 2
    assert not set(new) & set(old)
    for code in old:
        response = client.post("/rosta/kod", data={"code": code})
        assert response.status_code == 403
        assert "Koden har ersatts av ett nyare brev." in response.get_data(as_text=True)
    assert client.post("/rosta/kod", data={"code": new[0]}).status_code == 302
    assert _events("letters.issued")[-1] == {"count": 2, "by": 7}


def test_regenerating_discards_letters_not_yet_downloaded(letters, clock):
    with db.transaction() as s:
        first = services.issue_letters(s, election_now(), clock(), "http://x", CONTACT, by=7)
        second = services.issue_letters(s, election_now(), clock(), "http://x", CONTACT, by=7)
    waiting = services.waiting(db.session, election_now())
    assert [w[0] for w in waiting] == [second.batch.id]
    assert db.session.get(LetterBatch, first.batch.id).pdf_enc is None


def test_a_member_who_voted_gets_no_new_letter(letters, client, clock):
    code = codes_in(letters.pdf)[0]
    client.post("/rosta/kod", data={"code": code})
    member = _member_of(code)
    contest = letters.contests["SODERMALM" if member.startswith("S") else "BROMMA"]
    session_client(client).vote(letters.slug, contest, letters.candidates[_krets(member)][:2])
    with db.transaction() as s:
        done = services.issue_letters(s, election_now(), clock(), "http://x", CONTACT, by=7)
    assert done.count == 1
    assert done.skipped == {"voted": 1}
    with pytest.raises(VotingError) as refused:
        services.replace_letter(
            db.session, election_now(), db.session.get(Member, member), clock(), "x", CONTACT, by=7
        )
    assert refused.value.code == "voted"


def _member_of(code: str) -> str:
    row = db.session.scalar(select(VoterLink).where(VoterLink.token_hash == codes.code_hash(code)))
    assert row is not None
    return row.member_id


def _krets(member_id: str) -> str:
    return "SODERMALM" if member_id.startswith("S") else "BROMMA"


# --- The code form and a vote ---------------------------------------------------------------


def test_the_code_opens_the_same_ballot_and_votes_end_to_end(letters, client):
    code = codes_in(letters.pdf)[1]
    member = _member_of(code)
    typed = code.lower().replace("-", " ")
    response = client.post("/rosta/kod", data={"code": typed})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/rosta")
    assert code not in response.headers["Location"]
    page = client.get("/rosta").get_data(as_text=True)
    assert 'id="ballot-app"' in page
    krets = _krets(member)
    receipt = session_client(client).vote(
        letters.slug, letters.contests[krets], letters.candidates[krets][:2]
    )
    assert receipt["ballot_hash"]
    # Opening the code again shows the ballot page, which now says the member has voted.
    client.post("/rosta/kod", data={"code": code})
    assert "Du kan inte rösta igen." in client.get("/rosta").get_data(as_text=True)


def test_a_letter_code_is_no_link_and_no_bearer_token(letters, client):
    code = codes_in(letters.pdf)[0]
    assert client.get(f"/rosta/{code}").status_code == 403
    answer = client.get("/api/v1/voter", headers={"Authorization": f"Bearer {code}"})
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("typed", "status", "text"),
    [
        ("K7QF-3MXR-9TAB", 400, "Det är inte en röstkod."),
        ("2222-2222-2222-2222", 403, "Koden känns inte igen."),
        ("", 400, "Skriv in röstkoden från ditt brev."),
    ],
)
def test_a_wrong_code_gets_a_clear_swedish_page(letters, client, typed, status, text):
    response = client.post("/rosta/kod", data={"code": typed})
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert text in page
    assert 'id="ballot-app"' not in client.get("/rosta").get_data(as_text=True)


def test_an_expired_code_says_voting_has_closed(letters, client, clock):
    from datetime import timedelta

    from voting.ballot.services import LINK_GRACE

    clock.set(election_now().voting_closes + LINK_GRACE + timedelta(days=1))
    response = client.post("/rosta/kod", data={"code": codes_in(letters.pdf)[0]})
    assert response.status_code == 403
    assert "Röstningen är avslutad." in response.get_data(as_text=True)


def test_the_form_page_shows_the_form(letters, client):
    response = client.get("/rosta/kod")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<form method="post" action="/rosta/kod"' in page
    assert 'name="code"' in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/letter_code.js" defer>']


# --- Replacing one letter, and the two-person rule ------------------------------------------


def test_a_replacement_revokes_the_old_code(letters, client, clock):
    old = {_member_of(c): c for c in codes_in(letters.pdf)}
    with db.transaction() as s:
        batch = services.replace_letter(
            s, election_now(), s.get_one(Member, "B2"), clock(), "http://localhost", CONTACT, by=7
        )
        pdf = services.download(s, election_now(), batch.id, clock(), by=7)
    [new] = codes_in(pdf)
    assert client.post("/rosta/kod", data={"code": old["B2"]}).status_code == 403
    assert client.post("/rosta/kod", data={"code": old["S4"]}).status_code == 302  # untouched
    assert client.post("/rosta/kod", data={"code": new}).status_code == 302
    assert _events("letters.replaced") == [{"count": 1, "by": 7}]


def test_a_letter_to_a_changed_address_takes_two_committee_members(letters, client, clock):
    old = {_member_of(c): c for c in codes_in(letters.pdf)}
    with db.transaction() as s:
        asker = make_staff_quick(s, "committee", clock()).id
        other = make_staff_quick(s, "committee", clock()).id
        member = s.get_one(Member, "S4")
        set_address(member, {**ADDRESSES["S4"], "street": "Götgatan 99"})
    member = db.session.get_one(Member, "S4")
    assert services.letter_would_move(db.session, election_now(), member)
    with pytest.raises(VotingError) as refused:
        services.replace_letter(db.session, election_now(), member, clock(), "x", CONTACT, by=asker)
    assert refused.value.code == "move_needs_approval"
    db.session.rollback()
    # Batch regeneration by one person skips the member too.
    with db.transaction() as s:
        done = services.issue_letters(s, election_now(), clock(), "http://x", CONTACT, by=asker)
    assert done.skipped == {"needs_approval": 1}
    assert done.count == 1
    with db.transaction() as s:
        move = services.ask_move(
            s, election_now(), s.get_one(Member, "S4"), asker, clock(), services_cutoff()
        )
        move_id = move.id
    assert db.session.get_one(LinkMove, move_id).kind == LETTER
    with pytest.raises(VotingError) as same:
        decide(db.session, move_id, asker, True, clock(), "http://localhost", services_cutoff())
    assert same.value.code == "same_person"
    db.session.rollback()
    with db.transaction() as s:
        decide(s, move_id, other, True, clock(), "http://localhost", services_cutoff())
    assert client.post("/rosta/kod", data={"code": old["S4"]}).status_code == 403
    [(batch_id, _at, count)] = services.waiting(db.session, election_now())[-1:]
    assert count == 1
    with db.transaction() as s:
        pdf = services.download(s, election_now(), batch_id, clock(), by=other)
    assert "Götgatan 99" in pdf_first_text(pdf)
    assert client.post("/rosta/kod", data={"code": codes_in(pdf)[0]}).status_code == 302
    assert _events("letters.replaced")[-1] == {"count": 1, "by": other, "move": move_id}
    assert _events("letters.move_asked") == [{"move": move_id, "by": asker}]


def services_cutoff():
    from datetime import timedelta

    return timedelta(hours=24)


def pdf_first_text(pdf: bytes) -> str:
    from tests.letters.conftest import pdf_text

    return pdf_text(pdf)[0]


def test_a_first_letter_to_a_member_who_was_mailed_a_link_is_a_move(letters, clock):
    with db.transaction() as s:
        member = s.get_one(Member, "S1")
        member.channel = "letter"
        set_address(member, ADDRESSES["S4"])
    member = db.session.get_one(Member, "S1")
    assert services.letter_would_move(db.session, election_now(), member)


def test_a_reminder_leaves_letter_codes_alone(letters, client, clock):
    from voting.ballot.links import remind

    with db.transaction() as s:
        member = s.get_one(Member, "S4")
        member.email = "s4@example.org"  # a letter member who also has an address
    with db.transaction() as s:
        remind(s, election_now(), clock(), "http://localhost", by="cli")
    for code in codes_in(letters.pdf):
        assert client.post("/rosta/kod", data={"code": code}).status_code == 302
