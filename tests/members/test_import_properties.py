"""hypothesis: generated registers import exactly; one bad cell anywhere is named and blocks all."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.factories import short_form
from voting.log.models import AuditEntry
from voting.members.errors import RegisterImportError
from voting.members.importing import MEMBER_HEADER, import_members
from voting.members.models import Member
from voting.members.pnr import make_personnummer
from voting.members.services import normalize_email, personnummer_of

TODAY = date(2025, 6, 1)
NOON = datetime(2025, 6, 1, 12, tzinfo=UTC)
DB_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Separators and quotes, which the CSV must quote; no line break (refused in a name).
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzåäöéüABCDEFGHIJKLMNOPQRSTUVWXYZÅÄÖ -,;'\""
names = st.text(NAME_CHARS, min_size=1, max_size=30).filter(lambda s: s.strip())
emails = st.builds(
    "{}{}@{}".format,
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,15}", fullmatch=True),
    st.sampled_from(["", ".x", ".Svensson"]),
    st.sampled_from(["example.org", "Example.COM", "post.example.se", "exämple.se"]),
)


@st.composite
def registers(draw: st.DrawFn) -> list[dict[str, str]]:
    """Rows of a valid register, with the personnummer in any accepted written form."""
    count = draw(st.integers(min_value=1, max_value=12))
    ids = draw(st.lists(st.integers(1, 10**6), min_size=count, max_size=count, unique=True))
    births = draw(
        st.lists(
            st.tuples(st.dates(date(1900, 1, 1), TODAY), st.integers(1, 999)),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    rows = []
    for member_id, (born, serial) in zip(ids, births, strict=True):
        canonical = make_personnummer(born, serial)
        written = draw(
            st.sampled_from(
                [
                    "",
                    canonical,
                    f"{canonical[:8]}-{canonical[8:]}",
                    short_form(canonical, TODAY),
                    f"  {canonical} ",
                ]
            )
        )
        rows.append(
            {
                "member_id": str(member_id),
                "personnummer": written,
                "canonical": canonical if written else "",
                "first_name": draw(names),
                "last_name": draw(names),
                "email": draw(st.one_of(st.just(""), emails)),
                "phone": draw(st.sampled_from(["", "070-123 45 67", "+46 8 123 456"])),
                "krets": draw(st.sampled_from(["SODERMALM", "bromma", "Norrmalm"])),
                "forening": draw(st.one_of(st.just(""), names)),
            }
        )
    return rows


def to_csv(rows: list[dict[str, str]], sep: str, bom: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep)
    writer.writerow(MEMBER_HEADER)
    for row in rows:
        writer.writerow([row[name] for name in MEMBER_HEADER])
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def _counts(session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(Member)),
        session.scalar(select(func.count()).select_from(AuditEntry)),
    )


@DB_SETTINGS
@given(rows=registers(), sep=st.sampled_from([",", ";"]), bom=st.booleans())
def test_generated_registers_import_exactly(db_session, kretsar, rows, sep, bom):
    try:
        result = import_members(db_session, to_csv(rows, sep, bom), NOON, by="cli")
        assert (result.rows, result.inserted) == (len(rows), len(rows))
        for row in rows:
            member = db_session.get(Member, row["member_id"])
            assert member.first_name == row["first_name"].strip()
            assert member.last_name == row["last_name"].strip()
            assert member.krets_code == row["krets"].upper()
            assert member.email == (row["email"].lower() or None)
            assert member.forening == (row["forening"].strip() or None)
            assert (personnummer_of(member) or "") == row["canonical"]
    finally:
        db_session.rollback()


BAD_CELLS = {
    "krets": "NOWHERE",
    "email": "anna@@example.org",
    "personnummer": "19811218-9877",  # check digit
    "first_name": "",
    "last_name": "Åberg\u202e",  # a bidi override
    "forening": "S-föreningen\x00Söder",  # a NUL, which PostgreSQL cannot store
    "member_id": None,  # duplicate of another row's ID
}


@DB_SETTINGS
@given(rows=registers(), data=st.data())
def test_one_bad_cell_is_named_and_nothing_is_written(db_session, kretsar, rows, data):
    before = _counts(db_session)
    field = data.draw(st.sampled_from(sorted(BAD_CELLS)))
    if field == "member_id":
        if len(rows) < 2:
            rows = [*rows, {**rows[0], "personnummer": "", "canonical": ""}]
        index = data.draw(st.integers(1, len(rows) - 1))
        rows[index] = {**rows[index], "member_id": rows[0]["member_id"]}
    else:
        index = data.draw(st.integers(0, len(rows) - 1))
        rows[index] = {**rows[index], field: BAD_CELLS[field]}
    try:
        with pytest.raises(RegisterImportError) as info:
            import_members(db_session, to_csv(rows, ",", False), NOON, by="cli")
        assert [(e.row, e.field) for e in info.value.errors] == [(index + 2, field)]
    finally:
        db_session.rollback()
    assert _counts(db_session) == before


@settings(max_examples=300)
@given(st.one_of(st.emails(), st.text(max_size=40), emails))
def test_fast_email_check_agrees_with_email_validator(address):
    try:
        expected = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    try:
        got = normalize_email(address)
    except EmailNotValidError:
        got = None
    assert got == expected
