"""The election file's schedule.reminders and `voting election schedule --reminders`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from voting.elections.errors import ElectionFileError
from voting.elections.services import (
    create_election,
    format_reminder,
    get_election,
    parse_election_file,
    parse_reminders,
)
from voting.log.models import AuditEntry

FILE = """
slug = "kongress-2021"
title = "Kongressombudsval 2021"
[schedule]
nomination_opens = "2020-10-01T00:00"
nomination_closes = "2020-11-30T23:59:59"
voting_opens = "2021-01-12T00:00"
voting_closes = "2021-01-25T23:59:59"
{reminders}
[[krets]]
code = "SODERMALM"
name = "Södermalm"
seats = 3
"""
NOW = datetime(2020, 9, 1, tzinfo=UTC)


def _file(reminders: str = "") -> str:
    return FILE.format(reminders=reminders)


def test_default_is_three_days_and_one_day(db_session):
    assert parse_election_file(_file())["reminder_hours"] == [72, 24]
    create_election(db_session, _file(), NOW, by="cli")
    db_session.commit()
    assert get_election(db_session, "kongress-2021").reminder_hours == [72, 24]


@pytest.mark.parametrize(
    ("line", "hours"),
    [
        ('reminders = ["3d", "1d"]', [72, 24]),
        ('reminders = ["1d", "7d", "12h"]', [168, 24, 12]),
        ("reminders = [48, 2]", [48, 2]),
        ('reminders = [" 2 D", "36h"]', [48, 36]),
        ("reminders = []", []),
    ],
)
def test_reminders_in_days_or_hours(db_session, line, hours):
    election = create_election(db_session, _file(line), NOW, by="cli")
    db_session.commit()
    assert election.reminder_hours == hours
    created = db_session.scalars(
        select(AuditEntry.body).where(AuditEntry.type == "election.created")
    ).one()
    assert json.loads(created)["data"]["reminder_hours"] == hours


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('reminders = "3d"', "schedule.reminders: must be a list"),
        ('reminders = ["3d", "soon"]', "schedule.reminders[2]: 'soon' is not a time"),
        ('reminders = ["3w"]', "schedule.reminders[1]: '3w' is not a time"),
        ("reminders = [true]", "schedule.reminders[1]: True is not a time"),
        ("reminders = [1.5]", "schedule.reminders[1]: 1.5 is not a time"),
        ("reminders = [0]", "schedule.reminders[1]: must be between 1 hour and 90 days"),
        ('reminders = ["91d"]', "schedule.reminders[1]: must be between 1 hour and 90 days"),
        ('reminders = ["3d", "72h"]', "schedule.reminders[2]: '72h' is the same time as '3d'"),
        ('reminders = ["14d"]', "schedule.reminders: 14d before the close is not after voting"),
    ],
)
def test_bad_reminders_name_the_field_and_create_nothing(db_session, line, message):
    with pytest.raises(ElectionFileError) as caught:
        create_election(db_session, _file(line), NOW, by="cli")
    assert str(caught.value).startswith(message)


@given(st.lists(st.integers(1, 90 * 24), unique=True, max_size=6))
def test_any_valid_list_round_trips_through_its_written_form(hours):
    written = [format_reminder(h) for h in hours]
    assert parse_reminders(written) == sorted(hours, reverse=True)
    assert parse_reminders(hours) == sorted(hours, reverse=True)


def test_schedule_command_changes_reminders_and_logs_it(app, runner, db_session, clock):
    clock.set(NOW)
    create_election(db_session, _file(), NOW, by="cli")
    db_session.commit()
    result = runner.invoke(args=["election", "schedule", "kongress-2021", "--reminders", "2d,6h"])
    assert result.exit_code == 0, result.output
    assert "reminders: 3d, 1d -> 2d, 6h" in result.output
    assert get_election(db_session, "kongress-2021").reminder_hours == [48, 6]
    (event,) = [
        json.loads(b)["data"]
        for b in db_session.scalars(
            select(AuditEntry.body).where(AuditEntry.type == "election.schedule_changed")
        )
    ]
    assert event == {"field": "reminders", "old": [72, 24], "new": [48, 6], "by": "cli"}
    db_session.rollback()  # SQLite: a reading transaction holds the write lock here

    result = runner.invoke(args=["election", "schedule", "kongress-2021", "--reminders", "none"])
    assert result.exit_code == 0, result.output
    assert get_election(db_session, "kongress-2021").reminder_hours == []
    db_session.rollback()
    result = runner.invoke(args=["election", "schedule", "kongress-2021", "--reminders", "none"])
    assert "Nothing changed." in result.output

    result = runner.invoke(args=["election", "schedule", "kongress-2021", "--reminders", "1x"])
    assert result.exit_code != 0
    assert "reminders[1]: '1x' is not a time" in result.output
    shown = runner.invoke(args=["election", "show", "kongress-2021", "--json"])
    assert json.loads(shown.output)["reminders"] == []


def test_schedule_command_says_when_a_new_reminder_is_already_due(app, runner, db_session, clock):
    from datetime import timedelta

    election = create_election(db_session, _file(), NOW, by="cli")
    db_session.commit()
    clock.set(election.voting_closes - timedelta(hours=30))
    db_session.rollback()
    result = runner.invoke(args=["election", "schedule", "kongress-2021", "--reminders", "2d,1d"])
    assert result.exit_code == 0, result.output
    assert "the reminder(s) 2d before the close are already due" in result.output
