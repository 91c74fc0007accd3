"""The förening CSV import: name,krets,contact_email; upsert on name; all or nothing."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import func, select

from tests.members.conftest import csv_bytes
from voting.log.models import AuditEntry
from voting.log.services import REGISTER_LOG, entries
from voting.members.errors import RegisterImportError
from voting.members.importing import import_foreningar
from voting.members.models import Forening
from voting.members.services import list_foreningar

HEADER = "name,krets,contact_email"


def test_import_and_upsert(db_session, kretsar, clock):
    first = csv_bytes(
        ["S-föreningen Söder;SODERMALM;Kontakt@Example.org", "Bromma S;bromma;"],
        header=HEADER,
        sep=";",
        bom=True,
    )
    result = import_foreningar(db_session, first, clock(), by="cli")
    db_session.commit()
    assert (result.rows, result.inserted, result.updated, result.unchanged) == (2, 2, 0, 0)
    soder = db_session.scalar(select(Forening).where(Forening.name == "S-föreningen Söder"))
    assert (soder.krets_code, soder.contact_email) == ("SODERMALM", "kontakt@example.org")
    bromma = db_session.scalar(select(Forening).where(Forening.name == "Bromma S"))
    assert (bromma.krets_code, bromma.contact_email) == ("BROMMA", None)

    second = csv_bytes(
        [
            "S-föreningen Söder,SODERMALM,kontakt@example.org",
            "Bromma S,BROMMA,ny@example.org",
            "Norr S,NORRMALM,norr@example.org",
        ],
        header=HEADER,
    )
    result = import_foreningar(db_session, second, clock(), by="cli")
    db_session.commit()
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    assert [f.name for f in list_foreningar(db_session)] == [
        "Bromma S",
        "Norr S",
        "S-föreningen Söder",
    ]
    assert [f.name for f in list_foreningar(db_session, "NORRMALM")] == ["Norr S"]
    events = entries(db_session, REGISTER_LOG, "foreningar.imported")
    assert len(events) == 2
    assert json.loads(events[1].body)["data"]["sha256"] == hashlib.sha256(second).hexdigest()
    assert "example.org" not in events[1].body


def test_errors_are_all_reported_and_nothing_written(db_session, kretsar, clock):
    data = csv_bytes(
        [
            "Ett,NOWHERE,a@example.org",  # 2 krets
            "Två,SODERMALM,not-an-address",  # 3 contact_email
            "Tre,SODERMALM,",  # 4 fine
            "Tre,BROMMA,",  # 5 duplicate name
            ",BROMMA,",  # 6 missing name
            "Fyra,BROMMA",  # 7 a field short
        ],
        header=HEADER,
    )
    with pytest.raises(RegisterImportError) as info:
        import_foreningar(db_session, data, clock(), by="cli")
    db_session.rollback()
    assert [(e.row, e.field) for e in info.value.errors] == [
        (2, "krets"),
        (3, "contact_email"),
        (5, "name"),
        (6, "name"),
        (7, "row"),
    ]
    assert db_session.scalar(select(func.count()).select_from(Forening)) == 0
    assert db_session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_member_header_is_refused(db_session, kretsar, clock):
    with pytest.raises(RegisterImportError) as info:
        import_foreningar(db_session, csv_bytes(["1,,A,B,,,SODERMALM,"]), clock(), by="cli")
    assert [(e.row, e.field) for e in info.value.errors] == [(1, "header")]
