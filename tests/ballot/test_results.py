"""Publishing the results: guards, the log, the public page, JSON, CSV, PDF and the auditor page."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from ballots.tally import result_hash
from voting.ballot.models import ResultsPublication
from voting.db import db
from voting.elections.services import get_election
from voting.errors import TransitionBlocked
from voting.lifecycle import results as results_service
from voting.lifecycle.cli import results_publish
from voting.lifecycle.tally import stored_result
from voting.log.checkpoints import checkpoints, log_key_json
from voting.log.models import AuditEntry

from .conftest import AFTER
from .test_tally_app import cast_all, run_tally, seal

PUBLISHED = AFTER + timedelta(hours=2)
PUBLIC = (
    "/val/{slug}/resultat",
    "/api/v1/elections/{slug}/results",
    "/val/{slug}/resultat.csv",
    "/val/{slug}/protokoll.pdf",
)
ROLES = ("anonymous", "auditor", "committee", "admin")


@pytest.fixture
def counted(voting, voter_client, clock):
    cast_all(voting, voter_client)
    clock.set(AFTER)
    seal(voting.slug)
    return run_tally(voting.slug)


def publish(slug, now=PUBLISHED):
    with db.transaction() as s:
        return results_service.publish_results(s, get_election(s, slug), now, by="cli")


def events(slug, kind):
    return [
        json.loads(body)["data"]
        for body in db.session.scalars(
            select(AuditEntry.body)
            .where(AuditEntry.log == slug, AuditEntry.type == kind)
            .order_by(AuditEntry.seq)
        )
    ]


def test_blocked_before_the_count(voting, clock):
    clock.set(AFTER)
    seal(voting.slug)
    with pytest.raises(TransitionBlocked, match="count the election first"):
        publish(voting.slug)
    assert db.session.scalars(select(ResultsPublication)).all() == []
    assert events(voting.slug, "results.published") == []


def test_publish_logs_once_and_checkpoints(voting, counted):
    before = len(checkpoints(db.session, voting.slug))
    digest = publish(voting.slug)
    assert digest == result_hash(counted)
    assert events(voting.slug, "results.published") == [{"results_hash": digest, "by": "cli"}]
    (tallied,) = events(voting.slug, "tally.counted")
    assert tallied["results_hash"] == digest
    rows = checkpoints(db.session, voting.slug)
    assert len(rows) == before + 1
    assert rows[-1].reason == "results.published"
    size = len(
        db.session.scalars(select(AuditEntry.seq).where(AuditEntry.log == voting.slug)).all()
    )
    assert rows[-1].size == size
    election = get_election(db.session, voting.slug)
    assert db.session.get(ResultsPublication, election.id).published_at == PUBLISHED

    with pytest.raises(TransitionBlocked, match="already published"):
        publish(voting.slug, PUBLISHED + timedelta(minutes=1))
    assert len(events(voting.slug, "results.published")) == 1


def test_cli_publish(app, voting, counted, clock):
    runner = app.test_cli_runner()
    clock.set(PUBLISHED)
    result = runner.invoke(results_publish, [voting.slug])
    assert result.exit_code == 0, result.output
    assert result_hash(counted) in result.output
    again = runner.invoke(results_publish, [voting.slug])
    assert again.exit_code != 0
    assert "already published" in again.output
    missing = runner.invoke(results_publish, ["finns-inte"])
    assert missing.exit_code != 0


@pytest.mark.parametrize("path", PUBLIC)
def test_public_forms_404_until_published(voting, counted, client, path):
    url = path.format(slug=voting.slug)
    assert client.get(url).status_code == 404
    publish(voting.slug)
    assert client.get(url).status_code == 200
    assert client.get(path.format(slug="finns-inte")).status_code == 404


def names_by_id(voting):
    with db.transaction() as s:
        election = get_election(s, voting.slug)
        return results_service.candidate_names(s, election)


def test_results_page(voting, counted, client):
    publish(voting.slug)
    html = client.get(f"/val/{voting.slug}/resultat").get_data(as_text=True)
    names = names_by_id(voting)
    soder = {c["krets"]: c for c in counted["contests"]}["SODERMALM"]
    assert "Södermalm" in html
    assert "Bromma" in html
    for cid in soder["elected"] + soder["ersattare"]:
        assert names[cid] in html
    bromma = {c["krets"]: c for c in counted["contests"]}["BROMMA"]
    # The Bromma tie was decided by lot: the tickets are shown.
    for entry in bromma["ties"][0]["order"]:
        assert entry["ticket"] in html
    assert "75,0 %" in html  # Swedish decimal comma
    fingerprint = log_key_json(db.session, voting.slug)["log_key_fingerprint"]
    assert fingerprint in html
    # The command can be pasted as shown: the fingerprint's spaces are quoted.
    assert f'verify-election record.json --log-key "{fingerprint}"' in html.replace("&#34;", '"')
    for link in ("/results", "resultat.csv", "protokoll.pdf", "/record"):
        assert link in html


def test_results_json(voting, counted, client):
    publish(voting.slug)
    body = client.get(f"/api/v1/elections/{voting.slug}/results").get_json()
    assert body["result"] == counted
    assert body["candidates"] == names_by_id(voting)
    assert set(body["candidates"]) == {c for cs in voting.candidates.values() for c in cs}


def test_results_csv(voting, counted, client):
    publish(voting.slug)
    response = client.get(f"/val/{voting.slug}/resultat.csv")
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["krets", "kretsnamn", "kandidat_id", "namn", "röster", "utfall"]
    names = names_by_id(voting)
    by_id = {row[2]: row for row in rows[1:]}
    assert len(by_id) == 5
    for contest in counted["contests"]:
        for cid, votes in contest["votes"].items():
            code, krets_name, _, name, got, outcome = by_id[cid]
            assert (code, name, int(got)) == (contest["krets"], names[cid], votes)
            if cid in contest["elected"]:
                assert outcome == "vald"
            elif cid in contest["ersattare"]:
                assert outcome == f"ersättare {contest['ersattare'].index(cid) + 1}"
            else:
                assert outcome == "—"
    assert by_id[voting.candidates["SODERMALM"][1]][1] == "Södermalm"
    # "Bo Åberg" survives the round trip.
    assert any("Åberg" in row[3] for row in rows[1:])


def test_protocol_pdf(voting, counted, client):
    publish(voting.slug)
    response = client.get(f"/val/{voting.slug}/protokoll.pdf")
    assert response.mimetype == "application/pdf"
    assert response.get_data().startswith(b"%PDF")
    with db.transaction() as s:
        election = get_election(s, voting.slug)
        plain = results_service.protocol_pdf(
            s, election, stored_result(s, election), PUBLISHED, compress=False
        )
        fingerprint = results_service.log_key_fingerprint(s, election)
        last = results_service.final_checkpoint(s, election)
    assert plain.startswith(b"%PDF")
    assert plain.rstrip().endswith(b"%%EOF")
    assert last.reason == "results.published"
    assert fingerprint
    if results_service.FONT.is_file():
        # The Unicode font is embedded (subset), so å, ä and ö render.
        assert b"DejaVuSans" in plain


def test_protocol_pdf_without_the_unicode_font(voting, counted, monkeypatch):
    publish(voting.slug)
    monkeypatch.setattr(results_service, "FONT", Path("/nonexistent/DejaVuSans.ttf"))
    with db.transaction() as s:
        election = get_election(s, voting.slug)
        pdf = results_service.protocol_pdf(
            s, election, stored_result(s, election), PUBLISHED, compress=False
        )
        fingerprint = results_service.log_key_fingerprint(s, election)
        last = results_service.final_checkpoint(s, election)
    assert pdf.startswith(b"%PDF")
    # With the core font the text sits in the page stream as latin-1.
    assert fingerprint.encode() in pdf
    assert last.root_b64.encode() in pdf
    assert "Södermalm".encode("latin-1") in pdf
    assert b"Namnf\xf6rtydligande" in pdf


@pytest.mark.parametrize("role", ROLES)
def test_auditor_results_page_access(voting, counted, client, login_as, role):
    if role != "anonymous":
        login_as(role)
    response = client.get(f"/audit/{voting.slug}/resultat")
    if role == "anonymous":
        assert response.status_code == 302
        assert response.location.startswith("/admin/login?next=")
        return
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert result_hash(counted) in html
    assert f"/api/v1/elections/{voting.slug}/record" in html
    # Only the committee (and admins) get the publish button.
    assert ("/resultat/publicera" in html) == (role != "auditor")


@pytest.mark.parametrize("role", ROLES)
def test_publish_form_roles(app, voting, counted, client, login_as, role, clock):
    app.config["WTF_CSRF_ENABLED"] = False
    clock.set(PUBLISHED)
    staff = login_as(role) if role != "anonymous" else None
    response = client.post(f"/audit/{voting.slug}/resultat/publicera")
    published = events(voting.slug, "results.published")
    if role in ("committee", "admin"):
        assert published[0]["by"] == staff
        assert response.status_code == 302
        assert response.location.endswith(f"/audit/{voting.slug}/resultat")
        assert len(published) == 1
        assert client.get(f"/val/{voting.slug}/resultat").status_code == 200
    else:
        assert response.status_code in (302, 403)
        assert published == []
        assert client.get(f"/val/{voting.slug}/resultat").status_code == 404


def test_auditor_page_before_the_count(voting, client, login_as):
    login_as("auditor")
    response = client.get(f"/audit/{voting.slug}/resultat")
    assert response.status_code == 200
    assert "inte räknat" in response.get_data(as_text=True)
    assert client.get("/audit/finns-inte/resultat").status_code == 404


@given(st.text(max_size=30))
def test_csv_cells_never_start_a_spreadsheet_formula(text):
    cell = results_service._cell(text)
    assert not cell.startswith(results_service.FORMULA_START)
    assert cell in (text, "'" + text)
    assert (cell != text) == text.startswith(results_service.FORMULA_START)
    assert results_service._cell(7) == 7


def test_swedish_words_numbers_and_places():
    assert results_service.count_sv(1, "röstsedel", "röstsedlar") == "1 röstsedel"
    assert results_service.count_sv(0, "röstsedel", "röstsedlar") == "0 röstsedlar"
    assert results_service.percent_sv("8.1") == "8,1\u00a0%"  # no line break before "%"
    assert results_service.place_sv("ersattare 2") == "ersättare 2"  # as the lottery lines say
    assert results_service.place_sv("elected") == "vald"
