"""Election files: validation names the field, nothing is created on error, times honour DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from voting.elections.errors import ElectionFileError
from voting.elections.models import Contest, Election
from voting.elections.services import create_election, get_election
from voting.lifecycle.schedule import reschedule
from voting.log.models import AuditEntry

GOOD = """
slug = "kongress-2021"
title = "Kongressombudsval 2021"
timezone = "Europe/Stockholm"
[schedule]
nomination_opens = "2020-10-01T00:00"
nomination_closes = "2020-11-30T23:59:59"
voting_opens = "2021-01-12T00:00"
voting_closes = "2021-01-25T23:59:59"
[[krets]]
code = "SODERMALM"
name = "Södermalm"
seats = 3
[[krets]]
code = "BROMMA"
name = "Bromma"
seats = 4
min_selections = 1
max_selections = 4
substitutes = 2
"""

NOW = datetime(2020, 9, 1, tzinfo=UTC)


def test_creates_election_with_defaults_and_local_times(db_session):
    election = create_election(db_session, GOOD, NOW, by="cli")
    db_session.commit()
    soder, bromma = sorted(election.contests, key=lambda c: c.krets_code, reverse=True)
    assert (soder.seats, soder.min_selections, soder.max_selections, soder.substitutes) == (
        3,
        3,
        3,
        3,
    )
    assert (bromma.min_selections, bromma.max_selections, bromma.substitutes) == (1, 4, 2)
    # 30 November is winter time (UTC+1); 1 October is summer time (UTC+2).
    assert election.nomination_closes == datetime(2020, 11, 30, 22, 59, 59, tzinfo=UTC)
    assert election.nomination_opens == datetime(2020, 9, 30, 22, 0, tzinfo=UTC)
    reloaded = get_election(db_session, "kongress-2021")
    assert reloaded.nomination_closes.tzinfo is not None
    entry = db_session.scalars(select(AuditEntry).where(AuditEntry.log == "kongress-2021")).one()
    assert entry.type == "election.created"


def test_deadline_is_inclusive_in_stockholm_time(db_session):
    election = create_election(db_session, GOOD, NOW, by="cli")
    last_second = datetime(2020, 11, 30, 22, 59, 59, tzinfo=UTC)
    assert election.nomination_open(last_second)
    assert not election.nomination_open(datetime(2020, 11, 30, 23, 0, 0, tzinfo=UTC))
    assert election.phase(datetime(2020, 12, 1, tzinfo=UTC)) == "review"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('slug = "kongress-2021"', 'slug = "Bad Slug"'), "slug"),
        (('timezone = "Europe/Stockholm"', 'timezone = "Mars/Olympus"'), "timezone"),
        (("seats = 3", "seats = 0"), "krets[1].seats"),
        (("seats = 3", 'seats = "three"'), "krets[1].seats"),
        (("max_selections = 4", "max_selections = 0"), "krets[2].max_selections"),
        (
            ('voting_opens = "2021-01-12T00:00"', 'voting_opens = "2020-11-30T12:00"'),
            "schedule.voting_opens",
        ),
        (
            ('nomination_opens = "2020-10-01T00:00"', 'nomination_opens = "yesterday"'),
            "schedule.nomination_opens",
        ),
        (('code = "BROMMA"', 'code = "SODERMALM"'), "krets[2].code"),
        (('name = "Bromma"', 'name = "Bromma"\nseat = 2'), "krets[2].seat"),
    ],
)
def test_bad_file_names_the_field_and_creates_nothing(db_session, change, field):
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(ElectionFileError, match=field.replace("[", r"\[").replace("]", r"\]")):
        create_election(db_session, text, NOW, by="cli")
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Election)) == 0
    assert db_session.scalar(select(func.count()).select_from(Contest)) == 0


def test_duplicate_slug_is_refused(db_session):
    create_election(db_session, GOOD, NOW, by="cli")
    db_session.commit()
    with pytest.raises(ElectionFileError, match="already exists"):
        create_election(db_session, GOOD, NOW, by="cli")


def test_reschedule_logs_old_and_new(db_session):
    election = create_election(db_session, GOOD, NOW, by="cli")
    changed = reschedule(
        db_session, election, {"nomination_closes": "2020-12-01T12:00"}, NOW, by="cli"
    )
    db_session.commit()
    assert list(changed) == ["nomination_closes"]
    entry = db_session.scalars(
        select(AuditEntry).where(AuditEntry.type == "election.schedule_changed")
    ).one()
    assert '"old":"2020-11-30T22:59:59+00:00"' in entry.body
    assert '"new":"2020-12-01T11:00:00+00:00"' in entry.body


def test_reschedule_refuses_overlap_and_changes_nothing(db_session):
    election = create_election(db_session, GOOD, NOW, by="cli")
    db_session.commit()
    with pytest.raises(ElectionFileError, match="nomination window must end before voting"):
        reschedule(db_session, election, {"nomination_closes": "2021-02-01T00:00"}, NOW, by="cli")
    db_session.rollback()
    assert get_election(db_session, "kongress-2021").nomination_closes == datetime(
        2020, 11, 30, 22, 59, 59, tzinfo=UTC
    )


def test_cli_create_show_schedule(runner, clock, tmp_path):
    clock.set(NOW)  # before the schedule: every time may still move
    path = tmp_path / "e.toml"
    path.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(args=["election", "create", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "kongress-2021"
    result = runner.invoke(args=["election", "show", "kongress-2021"])
    assert "2020-11-30T23:59:59+01:00" in result.output
    result = runner.invoke(
        args=["election", "schedule", "kongress-2021", "--voting-opens", "2021-01-13T08:00+01:00"]
    )
    assert result.exit_code == 0, result.output
    assert "voting_opens: 2021-01-12T00:00:00+01:00 -> 2021-01-13T08:00:00+01:00" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("seats = 3", "seats = -1"), encoding="utf-8")
    result = runner.invoke(args=["election", "create", str(bad)])
    assert result.exit_code != 0
    assert "krets[1].seats" in result.output
