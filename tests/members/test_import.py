"""The member CSV import: formats, upsert, every error kind, all-or-nothing, encryption at rest."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select

from tests.members.conftest import (
    ANNA_PNR,
    BO_PNR,
    CIA_PNR,
    csv_bytes,
    good_file,
    member_line,
)
from voting.crypto import keyed_hash
from voting.log.models import AuditEntry
from voting.log.services import REGISTER_LOG, entries
from voting.members.errors import MemberNotFound, PersonnummerError, RegisterImportError
from voting.members.importing import import_members
from voting.members.models import Member
from voting.members.services import (
    find_member_by_personnummer,
    get_member,
    masked_personnummer,
    member_summary,
    members_by_email,
    personnummer_of,
)


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(Member))


def _audit_count(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry))


def _import(session, data, clock):
    result = import_members(session, data, clock(), by="cli")
    session.commit()
    return result


@pytest.mark.parametrize(("sep", "bom"), [(",", False), (";", False), (",", True), (";", True)])
def test_imports_comma_or_semicolon_with_or_without_bom(db_session, kretsar, clock, sep, bom):
    data = good_file(sep=sep, bom=bom)
    result = _import(db_session, data, clock)
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (3, 3, 0, 0)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    anna = db_session.get(Member, "1001")
    assert (anna.first_name, anna.last_name) == ("Anna", "Åberg")
    assert anna.email == "anna.aberg@example.org"  # stored lower-case
    assert anna.phone == "070-123 45 67"
    assert anna.krets_code == "SODERMALM"
    assert anna.forening == "S-föreningen Söder"
    assert anna.updated_at == clock()
    assert personnummer_of(anna) == ANNA_PNR
    assert anna.personnummer_lookup == keyed_hash(ANNA_PNR, "personnummer-lookup")
    assert personnummer_of(db_session.get(Member, "1002")) == BO_PNR  # 10 digits, no separator
    cia = db_session.get(Member, "1003")
    assert cia.krets_code == "NORRMALM"  # krets code matched without regard to case
    assert personnummer_of(cia) == CIA_PNR
    assert cia.email is None
    assert cia.phone is None
    assert cia.forening is None


def test_audit_event_has_counts_and_hash_but_no_personal_data(db_session, kretsar, clock):
    data = good_file()
    _import(db_session, data, clock)
    [event] = entries(db_session, REGISTER_LOG, "members.imported")
    body = json.loads(event.body)
    assert body["data"] == {
        "rows": 3,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "sha256": hashlib.sha256(data).hexdigest(),
        "by": "cli",
    }
    # The entry's time and hashes are digits and hex that may hold "070" or "1001" by chance:
    # everything but them is checked (the data is compared whole above).
    hashed = (body["time"], body["prev"], body["data"]["sha256"])
    said = event.body
    for value in hashed:
        said = said.replace(value, "")
    for secret in (ANNA_PNR, ANNA_PNR[2:], "1001", "Anna", "Åberg", "example.org", "070"):
        assert secret not in said


def test_empty_optional_fields_and_no_personnummer(db_session, kretsar, clock):
    result = _import(db_session, csv_bytes([member_line("7", "")]), clock)
    assert result.inserted == 1
    member = db_session.get(Member, "7")
    assert member.personnummer_enc is None
    assert member.personnummer_lookup is None
    assert masked_personnummer(member) is None


def test_upsert_updates_changed_rows_and_keeps_unchanged_ciphertext(db_session, kretsar, clock):
    _import(db_session, good_file(), clock)
    before = {m.member_id: m.personnummer_enc for m in db_session.scalars(select(Member))}
    new_bo = "19500304-1240"  # another valid number
    changed = csv_bytes(
        [
            member_line(
                "1001",
                ANNA_PNR,
                email="anna@example.org",  # changed
                phone="070-123 45 67",
                forening="S-föreningen Söder",
            ),
            member_line("1002", new_bo, "Bo", "Berg", "bo@example.org", krets="BROMMA"),
            member_line("1003", CIA_PNR, "Cia", "Ceder", krets="NORRMALM"),  # unchanged
            member_line("1004", "", "Dan", "Dahl", krets="BROMMA"),  # new
        ]
    )
    result = _import(db_session, changed, clock)
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (4, 1, 2, 1)
    db_session.expire_all()
    anna = db_session.get(Member, "1001")
    assert anna.email == "anna@example.org"
    # The personnummer did not change: the ciphertext is the very same bytes.
    assert anna.personnummer_enc == before["1001"]
    assert db_session.get(Member, "1003").personnummer_enc == before["1003"]
    bo = db_session.get(Member, "1002")
    assert bo.personnummer_enc != before["1002"]
    assert personnummer_of(bo) == "195003041240"
    assert bo.personnummer_lookup == keyed_hash("195003041240", "personnummer-lookup")
    assert _count(db_session) == 4
    # Importing the same file again changes nothing, but is still logged.
    again = _import(db_session, changed, clock)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert len(entries(db_session, REGISTER_LOG, "members.imported")) == 3


def test_an_empty_cell_clears_an_optional_field(db_session, kretsar, clock):
    _import(db_session, good_file(), clock)
    _import(db_session, csv_bytes([member_line("1001", "", email="", krets="SODERMALM")]), clock)
    db_session.expire_all()
    anna = db_session.get(Member, "1001")
    assert anna.email is None
    assert anna.phone is None
    assert anna.forening is None
    assert anna.personnummer_enc is None
    assert anna.personnummer_lookup is None


ALL_ERRORS = [
    member_line("2001", krets="NOWHERE"),  # row 2: unknown krets
    member_line("2002", email="anna@@example.org"),  # row 3: malformed email
    member_line("2003", "19811318-9876"),  # row 4: personnummer date
    member_line("2004", "19811218-9877"),  # row 5: personnummer check digit
    member_line("2005"),  # row 6: fine ...
    member_line("2005", first="Other"),  # row 7: ... duplicate member_id
    member_line("2006", first=""),  # row 8: missing required field
    "2007,,Anna,Åberg,,,SODERMALM",  # row 9: a field short
    member_line("", last=""),  # row 10: two missing fields
    member_line("2008", "abc"),  # row 11: personnummer format
    member_line("2009", ANNA_PNR),  # row 12: fine ...
    member_line("2010", ANNA_PNR[2:]),  # row 13: ... the same person again
    member_line("20 11"),  # row 14: member_id with a space
    member_line("2012", phone="ring mig"),  # row 15: phone
]
EXPECTED = [
    (2, "krets"),
    (3, "email"),
    (4, "personnummer"),
    (5, "personnummer"),
    (7, "member_id"),
    (8, "first_name"),
    (9, "row"),
    (10, "member_id"),
    (10, "last_name"),
    (11, "personnummer"),
    (13, "personnummer"),
    (14, "member_id"),
    (15, "phone"),
]


def test_every_error_is_reported_with_row_and_field_and_nothing_is_written(
    db_session, kretsar, clock
):
    _import(db_session, good_file(), clock)
    members, audit = _count(db_session), _audit_count(db_session)
    with pytest.raises(RegisterImportError) as info:
        import_members(db_session, csv_bytes(ALL_ERRORS), clock(), by="cli")
    db_session.rollback()
    errors = info.value.errors
    assert [(e.row, e.field) for e in errors] == EXPECTED
    messages = {(e.row, e.field): e.message for e in errors}
    assert "NOWHERE" in messages[(2, "krets")]
    assert "datum" in messages[(4, "personnummer")]
    assert "kontrollsiffra" in messages[(5, "personnummer")]
    assert "format" in messages[(11, "personnummer")]
    assert "rad 6" in messages[(7, "member_id")]
    assert "rad 12" in messages[(13, "personnummer")]
    assert str(errors[1]).startswith("row 3, email: ")
    # The personnummer is never echoed in an error.
    assert not any("9876" in e.message or "9877" in e.message for e in errors)
    assert _count(db_session) == members
    assert _audit_count(db_session) == audit
    assert db_session.get(Member, "2005") is None


def test_good_rows_of_a_bad_file_are_not_written_either(db_session, kretsar, clock):
    data = csv_bytes([member_line(f"{i}") for i in range(1, 50)] + [member_line("x", krets="NO")])
    with pytest.raises(RegisterImportError) as info:
        import_members(db_session, data, clock(), by="cli")
    db_session.rollback()
    assert [(e.row, e.field) for e in info.value.errors] == [(51, "krets")]
    assert _count(db_session) == 0
    assert _audit_count(db_session) == 0


@pytest.mark.parametrize(
    "header",
    [
        "member_id,personnummer,first_name,last_name,email,phone,krets",
        "member_id,personnummer,first_name,last_name,email,phone,forening,krets",
        "medlemsnummer,personnummer,first_name,last_name,email,phone,krets,forening",
        "",
    ],
)
def test_wrong_header_is_row_1(db_session, kretsar, clock, header):
    with pytest.raises(RegisterImportError) as info:
        import_members(db_session, csv_bytes([member_line("1")], header=header), clock(), by="cli")
    [error] = info.value.errors
    assert (error.row, error.field) == (1, "header")
    assert "member_id,personnummer,first_name" in error.message


def test_header_cells_may_have_surrounding_spaces(db_session, kretsar, clock):
    header = " member_id , personnummer,first_name,last_name,email,phone,krets,forening "
    assert import_members(
        db_session, csv_bytes([member_line("1")], header=header), clock(), by="cli"
    ).rows


def test_not_utf8_names_the_row(db_session, kretsar, clock):
    data = csv_bytes([member_line("1")]) + "2,,Åsa,Öberg,,,SODERMALM,\r\n".encode("cp1252")
    with pytest.raises(RegisterImportError) as info:
        import_members(db_session, data, clock(), by="cli")
    [error] = info.value.errors
    assert (error.row, error.field) == (3, "file")
    assert "UTF-8" in error.message


def test_blank_rows_are_skipped_but_counted(db_session, kretsar, clock):
    data = csv_bytes([member_line("1"), "", ",,,,,,,", member_line("2", krets="NOWHERE")])
    with pytest.raises(RegisterImportError) as info:
        import_members(db_session, data, clock(), by="cli")
    assert [(e.row, e.field) for e in info.value.errors] == [(5, "krets")]


def test_quoted_fields_with_separators_and_newlines(db_session, kretsar, clock):
    data = csv_bytes(
        ['1,,"Anna, Maria","Åberg\nLund",,,SODERMALM,"Förening; Söder"', "2,,B,C,,,X,"]
    )
    with pytest.raises(RegisterImportError) as info:
        import_members(db_session, data, clock(), by="cli")
    # The spreadsheet row is the record, not the line: the second record is row 3. (A line
    # break inside a name is refused in its own right, tests/members/test_import_text_rules.py.)
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "last_name"), (3, "krets")]


def test_accepts_path_file_object_and_rows(db_session, kretsar, clock, tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(good_file())
    assert import_members(db_session, path, clock(), by="cli").inserted == 3
    assert import_members(db_session, str(path), clock(), by="cli").unchanged == 3
    assert import_members(db_session, io.BytesIO(good_file()), clock(), by="cli").unchanged == 3
    rows = [
        {"member_id": "9", "first_name": "Nils", "last_name": "Nilsson", "krets": "BROMMA"},
    ]
    assert import_members(db_session, rows, clock(), by="cli").inserted == 1


def test_progress_is_reported(db_session, kretsar, clock):
    calls = []
    import_members(db_session, good_file(), clock(), progress=lambda *a: calls.append(a), by="cli")
    assert ("check", 3, 3) in calls
    assert ("write", 3, 3) in calls


@pytest.mark.own_database  # reads the stored bytes from a connection of its own
def test_personnummer_is_encrypted_at_rest(app, db_session, kretsar, clock):
    _import(db_session, good_file(), clock)
    with app.extensions["db"]["engine"].connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM member")).all()
    assert len(rows) == 3
    raw = repr(rows).encode() + b"".join(
        bytes(v) for row in rows for v in row if isinstance(v, bytes | memoryview)
    )
    # Forms of at least eight digits only: four digits (the last part alone) turn up by
    # chance in random ciphertext bytes and hex columns about once in a few hundred runs.
    for number in (ANNA_PNR, BO_PNR, CIA_PNR):
        for form in (number, number[2:], number[:8], number[2:8] + "-" + number[8:]):
            assert form.encode() not in raw
    if app.config["DATABASE_URL"].startswith("sqlite:///"):
        db_file = app.config["DATABASE_URL"].removeprefix("sqlite:///")
        with open(db_file, "rb") as fh:
            content = fh.read()
        assert ANNA_PNR.encode() not in content
        assert ANNA_PNR[2:].encode() not in content


def test_ciphertext_is_bound_to_its_member(db_session, kretsar, clock):
    _import(db_session, good_file(), clock)
    anna, bo = db_session.get(Member, "1001"), db_session.get(Member, "1002")
    bo.personnummer_enc = anna.personnummer_enc  # moved onto another row
    with pytest.raises(InvalidTag):
        personnummer_of(bo)


def test_lookups(db_session, kretsar, clock):
    _import(db_session, good_file(), clock)
    for form in (ANNA_PNR, f"{ANNA_PNR[2:8]}-{ANNA_PNR[8:]}", ANNA_PNR[2:]):
        assert find_member_by_personnummer(db_session, form).member_id == "1001"
    assert find_member_by_personnummer(db_session, "19500304-1240") is None
    with pytest.raises(PersonnummerError):
        find_member_by_personnummer(db_session, "19811218-9877")
    assert [m.member_id for m in members_by_email(db_session, " ANNA.Aberg@example.org ")] == [
        "1001"
    ]
    assert members_by_email(db_session, "nobody@example.org") == []
    assert members_by_email(db_session, "not an address") == []
    assert members_by_email(db_session, "bo@example.org")[0].member_id == "1002"
    assert get_member(db_session, " 1002 ").member_id == "1002"
    with pytest.raises(MemberNotFound):
        get_member(db_session, "404")
    summary = member_summary(db_session, db_session.get(Member, "1001"))
    assert summary["personnummer"] == f"{ANNA_PNR[:8]}-****"
    assert summary["krets_name"] == "Södermalm"


def test_shared_email_gives_the_lowest_member_id(db_session, kretsar, clock):
    data = csv_bytes(
        [member_line("20", email="hem@example.org"), member_line("10", email="HEM@example.org")]
    )
    _import(db_session, data, clock)
    assert [m.member_id for m in members_by_email(db_session, "hem@example.org")] == ["10", "20"]


def test_unreadable_csv_row_is_named(db_session, kretsar, clock):
    data = csv_bytes([member_line("1"), '2,,"' + "x" * 200_000 + '",B,,,SODERMALM,'])
    with pytest.raises(RegisterImportError) as info:
        import_members(db_session, data, clock(), by="cli")
    [error] = info.value.errors
    assert (error.row, error.field) == (3, "row")
