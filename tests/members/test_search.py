"""The committee finds a member by name, email, personnummer or member number (issue 14, 16)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import event

from tests.members.conftest import ANNA_PNR, BO_PNR, csv_bytes, good_file, member_line
from voting.db import db
from voting.members.search import MAX_RESULTS, search_members

SEARCH = "/admin/members/sok"
TODAY = date(2026, 12, 1)


def _upload(client, data: bytes) -> None:
    response = client.post(
        "/admin/members/import",
        data={"file": (io.BytesIO(data), "register.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302


@pytest.fixture
def register(client, login, kretsar):
    login("committee")
    _upload(client, good_file())


def _ids(query: str) -> list[str]:
    return [m.member_id for m in search_members(db.session, query, TODAY).members]


def test_by_name_in_part_any_case_and_both_names(register):
    assert _ids("anna") == ["1001"]
    assert _ids("ÅBERG") == ["1001"]
    assert _ids("åberg") == ["1001"]
    assert _ids("Anna Åb") == ["1001"]  # every word must match, in first or last name
    assert _ids("Anna Ceder") == []
    assert set(_ids("berg")) == {"1001", "1002"}  # "Åberg" and "Berg"


def test_by_member_number_exactly(register):
    assert _ids("1002") == ["1002"]
    assert _ids("100") == []  # not a prefix search on numbers


def test_by_email_in_part(register):
    assert _ids("anna.aberg@example.org") == ["1001"]
    assert _ids("ANNA.ABERG@EXAMPLE.ORG") == ["1001"]
    assert _ids("@example.org") != []
    assert "1001" not in _ids("bo@example.org")


@pytest.mark.parametrize(
    "written",
    [ANNA_PNR, f"{ANNA_PNR[:8]}-{ANNA_PNR[8:]}", ANNA_PNR[2:], f"{ANNA_PNR[2:8]}-{ANNA_PNR[8:]}"],
)
def test_by_personnummer_in_any_written_form_through_the_keyed_hash(register, written):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(f"{statement} {parameters}")

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        result = search_members(db.session, written, TODAY)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert [m.member_id for m in result.members] == ["1001"]
    assert result.by == "personnummer"
    # The lookup goes by the keyed hash: the personnummer itself never reaches the database.
    assert any("personnummer_lookup" in s for s in statements)
    assert not any(ANNA_PNR[2:] in s or ANNA_PNR[8:] in s for s in statements)


def test_a_personnummer_not_in_the_register_finds_nobody(register):
    assert _ids(BO_PNR[:11] + str((int(BO_PNR[11]) + 1) % 10)) == []  # bad check digit
    result = search_members(db.session, "19811218-0000", TODAY)
    assert result.invalid_personnummer
    assert result.members == []


def test_a_long_member_number_is_not_taken_for_a_bad_personnummer(client, login, kretsar):
    login("committee")
    _upload(client, csv_bytes([member_line("1234567890", first="Tio", last="Siffror")]))
    assert _ids("1234567890") == ["1234567890"]


def test_like_wildcards_are_searched_as_themselves(register):
    assert _ids("%") == []
    assert _ids("a_a") == []


def test_the_list_is_capped(client, login, kretsar):
    login("committee")
    lines = [member_line(str(5000 + i), first="Kim", last=f"Lund{i:03d}") for i in range(60)]
    _upload(client, csv_bytes(lines))
    result = search_members(db.session, "kim lund", TODAY)
    assert len(result.members) == MAX_RESULTS
    assert result.truncated


def test_the_page_posts_the_query_and_shows_one_member_masked(client, register):
    page = client.get("/admin/members").get_data(as_text=True)
    assert f'<form method="post" action="{SEARCH}" role="search">' in page
    response = client.post(SEARCH, data={"q": f"{ANNA_PNR[:8]}-{ANNA_PNR[8:]}"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1 medlem hittades." in html
    assert f"{ANNA_PNR[:8]}-****" in html
    assert ANNA_PNR not in html.replace(f"{ANNA_PNR[:8]}-{ANNA_PNR[8:]}", "")  # only in the box
    assert "anna.aberg@example.org" in html


def test_the_page_lists_several_with_links(client, register):
    html = client.post(SEARCH, data={"q": "berg"}).get_data(as_text=True)
    assert "medlemmar hittades." in html
    assert html.count('class="search-hit"') >= 2
    assert 'href="/admin/members?member_id=1002"' in html
    assert "****" not in html  # no personnummer in a list


def test_the_page_explains_nothing_found_and_bad_input(client, register):
    none = client.post(SEARCH, data={"q": "Zyxwv"})
    assert none.status_code == 200
    assert "Ingen medlem matchar sökningen." in none.get_data(as_text=True)
    empty = client.post(SEARCH, data={"q": "  "})
    assert empty.status_code == 400
    assert "Skriv det du vill söka på." in empty.get_data(as_text=True)
    bad = client.post(SEARCH, data={"q": "19811218-0000"})
    assert bad.status_code == 400
    assert "personnummer" in bad.get_data(as_text=True)


def test_search_needs_the_committee(client, login, kretsar):
    assert client.post(SEARCH, data={"q": "anna"}).status_code == 302
    login("auditor")
    assert client.post(SEARCH, data={"q": "anna"}).status_code == 403


def test_search_needs_csrf_when_enabled(app, client, login, kretsar):
    app.config["WTF_CSRF_ENABLED"] = True
    login("committee")
    response = client.post(SEARCH, data={"q": "anna"})
    assert response.status_code == 400
    assert "medlem hittades" not in response.get_data(as_text=True)
