"""The confirmation link: single use, 48 hours, the submission time counts, duplicates merge."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.nominations.conftest import (
    DURING,
    SLUG,
    follow_link,
    form_data,
    link_in,
    mails,
    nominate_and_confirm,
    rows,
)
from voting.crypto import pseudonym
from voting.db import db
from voting.elections.models import Election
from voting.log.models import AuditEntry
from voting.nominations.models import (
    Nomination,
    NominationStatus,
    NominationSubmission,
    SubmissionStatus,
)

URL = f"/val/{SLUG}/nominera"


def _submit(client, **overrides):
    before = len(mails())
    assert client.post(URL, data=form_data(**overrides)).status_code == 200
    return link_in(mails()[before][1])


def test_confirming_creates_the_nomination_and_mails_the_nominee(client, register):
    link = _submit(client)
    response = follow_link(client, link)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/nominera/bekraftad")
    landing = client.get("/nominera/bekraftad")
    assert "Nomineringen är bekräftad" in landing.text
    assert "Kongressombudsval 2027" in landing.text
    [nomination] = rows(Nomination)
    assert nomination.member_id == "1002"
    assert nomination.status == NominationStatus.AWAITING_NOMINEE
    assert nomination.contest.krets_code == "SODERMALM"
    assert nomination.nominator_count == 1
    [submission] = rows(NominationSubmission)
    assert submission.status == SubmissionStatus.CONFIRMED
    assert submission.nomination_id == nomination.id
    # The nominee is always asked (the questionnaire no longer asks whether they were).
    [(subject, body)] = mails("karl@example.org")
    assert "nominerats" in subject
    assert "/kandidat/" in body
    [entry] = rows(AuditEntry, AuditEntry.type == "nomination.confirmed")
    assert entry.log == SLUG
    data = (
        json.loads(entry.body)["data"]
        if "data" in json.loads(entry.body)
        else json.loads(entry.body)
    )
    text = entry.body
    for personal in ("1001", "1002", "anna", "Karl", "Berg", "example.org"):
        # Not inside a hex pseudonym or hash, where the digits may turn up by chance.
        assert not re.search(rf"(?<![0-9a-f]){re.escape(personal)}(?![0-9a-f])", text), personal
    assert str(nomination.id) in text
    assert data
    # Names per election, and nominators apart from nominees and voters: the record does not
    # show which candidate nominated whom, nor the same member across elections.
    nominee = pseudonym(nomination.member_id, SLUG)
    assert data["nominee"] == nominee
    assert nominee != pseudonym(nomination.member_id, "another-election")
    assert data["nominator"].startswith("n:")
    assert data["nominator"] not in {pseudonym(m, SLUG) for m in ("1001", "1002")}


def test_the_link_works_once(client, register):
    link = _submit(client)
    assert follow_link(client, link).status_code == 303
    again = follow_link(client, link)
    # A reused link is not a failure: the nomination is confirmed, and the page says so.
    assert again.status_code == 200
    assert "<h1>Nomineringen är redan bekräftad</h1>" in again.text
    assert "redan använts" in again.text
    assert "Länken fungerar inte" not in again.text
    assert len(rows(Nomination)) == 1
    assert len(mails("karl@example.org")) == 1


def test_unknown_link_is_404(client, register):
    response = follow_link(client, "/nominera/bekrafta/" + "A" * 32)
    assert response.status_code == 404
    assert "Länken är okänd" in response.text


def test_link_expires_after_48_hours(client, register, clock):
    link = _submit(client)
    clock.set(DURING + timedelta(hours=48, seconds=1))
    response = follow_link(client, link)
    assert response.status_code == 410
    assert "gått ut" in response.text
    assert rows(Nomination) == []
    [submission] = rows(NominationSubmission)
    assert submission.status == SubmissionStatus.UNCONFIRMED


def test_link_just_inside_48_hours_works(client, register, clock):
    link = _submit(client)
    clock.set(DURING + timedelta(hours=48))
    assert follow_link(client, link).status_code == 303


def test_submitted_before_the_deadline_confirms_after_it(client, register, clock):
    stockholm = ZoneInfo("Europe/Stockholm")
    clock.set(datetime(2026, 11, 30, 23, 59, 59, tzinfo=stockholm))
    link = _submit(client)
    clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=stockholm))
    assert follow_link(client, link).status_code == 303
    [submission] = rows(NominationSubmission)
    assert submission.status == SubmissionStatus.CONFIRMED


def test_no_confirmation_after_publication(client, register):
    link = _submit(client)
    with db.transaction() as s:
        s.get(Election, register.election_id).candidates_published_at = DURING
    db.session.close()
    response = follow_link(client, link)
    assert response.status_code == 403
    assert rows(Nomination) == []


def test_two_nominators_make_one_candidate_counted_twice(client, register):
    nominate_and_confirm(client)
    nominate_and_confirm(client, nominator_email="eva@example.org")
    nominate_and_confirm(
        client,
        nominator_email="soder@example.org",
        nominating_as="forening",
        forening_id=str(register.forening_id),
    )
    [nomination] = rows(Nomination)
    assert nomination.nominator_count == 3
    # The nominee is asked once, not once per nominator.
    assert len(mails("karl@example.org")) == 1


def test_same_nominator_twice_counts_once(client, register):
    nominate_and_confirm(client)
    nominate_and_confirm(client)
    response = client.get("/nominera/bekraftad")
    assert "redan nominerat samma person" in response.text
    [nomination] = rows(Nomination)
    assert nomination.nominator_count == 1
    statuses = sorted(s.status for s in rows(NominationSubmission))
    assert statuses == [SubmissionStatus.CONFIRMED, SubmissionStatus.DUPLICATE]


@pytest.mark.own_database  # threads, each with a connection of its own
def test_concurrent_confirmations_make_one_nomination(app, client, register):
    links = [
        _submit(client),
        _submit(client, nominator_email="eva@example.org"),
        _submit(
            client,
            nominator_email="soder@example.org",
            nominating_as="forening",
            forening_id=str(register.forening_id),
        ),
    ]
    db.session.rollback()  # release this thread's read transaction (SQLite's lock)
    barrier = threading.Barrier(len(links))
    statuses = []

    def open_link(link):
        with app.test_client() as own:
            barrier.wait()
            statuses.append(own.post(link).status_code)

    # Each thread gets its own app context, hence its own session and connection.
    threads = [threading.Thread(target=open_link, args=(link,)) for link in links]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [303, 303, 303]
    [nomination] = rows(Nomination)
    assert nomination.nominator_count == 3
    db.session.rollback()
    count = db.session.scalar(
        select(NominationSubmission.id).where(NominationSubmission.nomination_id.is_(None))
    )
    assert count is None
    assert len(mails("karl@example.org")) == 1


@pytest.mark.parametrize("path", ["/nominera/bekraftad"])
def test_landing_without_marker_explains(client, register, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "Ingen bekräftelse att visa" in response.text
