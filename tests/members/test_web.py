"""The committee's register pages: access per role, search, CSV uploads."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from tests.members.conftest import ANNA_PNR, csv_bytes, good_file
from tests.members.test_import import ALL_ERRORS, EXPECTED
from voting.db import db
from voting.log.models import AuditEntry
from voting.members.models import Forening, Member

URLS = ["/admin/members", "/admin/members/import", "/admin/members/foreningar/import"]


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _upload(client, url: str, data: bytes, name: str = "register.csv"):
    return client.post(
        url,
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    ("role", "expected"),
    [(None, 302), ("auditor", 403), ("committee", 200), ("admin", 200)],
)
def test_access_per_role(client, login, kretsar, url, role, expected):
    login(role)
    response = client.get(url)
    assert response.status_code == expected
    if role is None:
        assert "/admin/login" in response.headers["Location"]
    post = _upload(client, url, good_file()) if url != URLS[0] else None
    if post is not None and expected != 200:
        assert post.status_code == expected
        assert _count(Member) == 0


def test_json_client_gets_403(client, kretsar):
    response = client.get(URLS[0], headers={"Accept": "application/json"})
    assert response.status_code == 403


def test_upload_shows_counts(client, login, kretsar):
    staff = login("committee")
    response = _upload(client, URLS[1], good_file(sep=";", bom=True))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 rader, 3 nya, 0 ändrade, 0 oförändrade" in page
    assert _count(Member) == 3
    # The log names the staff account that imported.
    event = db.session.scalars(select(AuditEntry).where(AuditEntry.type == "members.imported"))
    assert json.loads(event.one().body)["data"]["by"] == staff


def test_upload_lists_every_error_and_writes_nothing(client, login, kretsar):
    login("committee")
    audit = _count(AuditEntry)
    response = _upload(client, URLS[1], csv_bytes(ALL_ERRORS))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Ingenting har sparats" in page
    for row, field in EXPECTED:
        assert f"Rad {row}, {field}:" in page
    assert _count(Member) == 0
    assert _count(AuditEntry) == audit


def test_upload_without_file_or_wrong_type(client, login, kretsar):
    login("committee")
    empty = client.post(URLS[1], data={}, content_type="multipart/form-data")
    assert empty.status_code == 400
    assert "Välj en CSV-fil" in empty.get_data(as_text=True)
    wrong = _upload(client, URLS[1], b"\x89PNG", name="photo.png")
    assert wrong.status_code == 400
    assert "CSV-fil (.csv)" in wrong.get_data(as_text=True)


def test_search_shows_masked_personnummer(client, login, kretsar):
    login("committee")
    assert _upload(client, URLS[1], good_file()).status_code == 302
    page = client.get(URLS[0], query_string={"member_id": "1001"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"{ANNA_PNR[:8]}-****" in html
    assert ANNA_PNR not in html
    assert ANNA_PNR[8:] not in html
    assert "anna.aberg@example.org" in html
    assert "Södermalm" in html
    missing = client.get(URLS[0], query_string={"member_id": "404"})
    assert missing.status_code == 404
    assert "Ingen medlem" in missing.get_data(as_text=True)
    blank = client.get(URLS[0], query_string={"member_id": ""})
    assert blank.status_code == 200
    assert "Ange ett medlemsnummer" in blank.get_data(as_text=True)


def test_overview_counts_members_per_krets(client, login, kretsar):
    login("committee")
    _upload(client, URLS[1], good_file())
    html = client.get(URLS[0]).get_data(as_text=True)
    assert "<td>Bromma</td><td>BROMMA</td><td>1</td>" in html


def test_foreningar_upload(client, login, kretsar):
    staff = login("committee")
    header = "name,krets,contact_email"
    good = csv_bytes(["Söder S,SODERMALM,s@example.org"], header=header)
    response = _upload(client, URLS[2], good)
    assert response.status_code == 302
    page = client.get(URLS[2]).get_data(as_text=True)
    assert "1 rader, 1 nya" in page
    assert "Söder S" in page
    event = db.session.scalars(select(AuditEntry).where(AuditEntry.type == "foreningar.imported"))
    assert json.loads(event.one().body)["data"]["by"] == staff
    bad = _upload(client, URLS[2], csv_bytes(["X,NOWHERE,"], header=header))
    assert bad.status_code == 400
    assert "Rad 2, krets:" in bad.get_data(as_text=True)
    assert _count(Forening) == 1


def test_upload_needs_csrf_when_enabled(app, client, login, kretsar):
    app.config["WTF_CSRF_ENABLED"] = True
    login("committee")
    response = _upload(client, URLS[1], good_file())
    assert response.status_code == 400
    assert _count(Member) == 0


def test_register_files_may_exceed_the_app_wide_upload_limit(app, client, login, kretsar):
    app.config["MAX_CONTENT_LENGTH"] = 2000  # the app-wide limit is sized for photos
    app.config["MEMBER_IMPORT_MAX_BYTES"] = 100_000
    big = csv_bytes([f"{i},,Förnamn,Efternamn,,,SODERMALM," for i in range(1, 200)])
    assert len(big) > 4000
    app.config["WTF_CSRF_ENABLED"] = True  # CSRF reads the body before any view runs
    anonymous = _upload(client, URLS[1], big)
    assert anonymous.status_code == 413  # no staff session: the small limit holds
    app.config["WTF_CSRF_ENABLED"] = False
    login("committee")
    response = _upload(client, URLS[1], big)
    assert response.status_code == 302
    assert _count(Member) == 199
