"""Creating an election from an uploaded file and editing its schedule in local time."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from tests.elections.test_election_file import GOOD, NOW
from voting.db import db
from voting.elections.services import get_election
from voting.log.services import entries


def test_upload_creates_the_election(client, login_as):
    staff = login_as("committee")
    response = client.post(
        "/admin/nytt-val",
        data={"file": (io.BytesIO(GOOD.encode()), "val.toml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert response.location == "/admin/val/kongress-2021/"
    election = get_election(db.session, "kongress-2021")
    assert [c.krets_code for c in election.contests] == ["BROMMA", "SODERMALM"]
    [created] = entries(db.session, election.slug, "election.created")
    assert json.loads(created.body)["data"]["by"] == staff
    page = client.get(response.location).get_data(as_text=True)
    assert "2020-11-30 23:59" in page
    assert "Tider i svensk tid." in page  # not "Europe/Stockholm" (issue 14, item 9)


def test_upload_errors_name_the_field_and_create_nothing(client, login_as):
    login_as("committee")
    bad = GOOD.replace("seats = 3", "seats = 0")
    response = client.post(
        "/admin/nytt-val",
        data={"file": (io.BytesIO(bad.encode()), "val.toml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "krets[1].seats" in page
    assert 'aria-invalid="true"' in page
    latin1 = client.post(
        "/admin/nytt-val",
        data={"file": (io.BytesIO(GOOD.encode("latin-1")), "val.toml")},
        content_type="multipart/form-data",
    )
    assert latin1.status_code == 400
    assert "UTF-8" in latin1.get_data(as_text=True)
    assert entries(db.session, "kongress-2021") == []


def _create(client):
    client.post(
        "/admin/nytt-val",
        data={"file": (io.BytesIO(GOOD.encode()), "val.toml")},
        content_type="multipart/form-data",
    )


def test_schedule_form_shows_and_takes_local_time(client, clock, login_as):
    clock.set(NOW)  # before the schedule: every time may still move
    login_as("committee")
    _create(client)
    url = "/admin/val/kongress-2021/schema"
    page = client.get(url).get_data(as_text=True)
    assert 'type="datetime-local"' in page
    assert 'value="2020-11-30T23:59:59"' in page  # seconds kept, local (winter) time
    form = {
        "nomination_opens": "2020-10-01T00:00:00",
        "nomination_closes": "2020-12-01T12:00",  # the only change
        "voting_opens": "2021-01-12T00:00:00",
        "voting_closes": "2021-01-25T23:59:59",
    }
    response = client.post(url, data=form)
    assert response.status_code == 302
    db.session.expire_all()
    election = get_election(db.session, "kongress-2021")
    assert election.nomination_closes == datetime(2020, 12, 1, 11, 0, tzinfo=UTC)
    assert election.nomination_opens == datetime(2020, 9, 30, 22, 0, tzinfo=UTC)  # summer time
    (event,) = entries(db.session, "kongress-2021", "election.schedule_changed")
    assert json.loads(event.body)["data"]["field"] == "nomination_closes"

    unchanged = client.post(url, data=dict(form, nomination_closes="2020-12-01T12:00:00"))
    assert unchanged.status_code == 302
    assert len(entries(db.session, "kongress-2021", "election.schedule_changed")) == 1


def test_schedule_errors_are_shown_on_the_field(client, clock, login_as):
    clock.set(NOW)  # before the schedule: every time may still move
    login_as("committee")
    _create(client)
    url = "/admin/val/kongress-2021/schema"
    form = {
        "nomination_opens": "2020-10-01T00:00",
        "nomination_closes": "2021-02-01T00:00",
        "voting_opens": "2021-01-12T00:00",
        "voting_closes": "2021-01-25T23:59:59",
    }
    response = client.post(url, data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "must end before voting opens" in page
    assert 'id="voting_opens-error"' in page
    garbage = client.post(url, data=dict(form, voting_closes="tomorrow"))
    assert garbage.status_code == 400
    assert 'id="voting_closes-error"' in garbage.get_data(as_text=True)
    db.session.expire_all()
    assert entries(db.session, "kongress-2021", "election.schedule_changed") == []
