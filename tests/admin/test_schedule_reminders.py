"""The reminders on the committee's schedule page: shown, changed, refused, cleared."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import flask_babel
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_election
from voting.db import db
from voting.elections.models import Election
from voting.elections.services import get_election
from voting.log.services import entries
from voting.scheduler.services import upcoming
from voting.staff.models import User

SLUG = "val-test"
URL = f"/admin/val/{SLUG}/schema"
SAVED = f"/admin/val/{SLUG}/"  # where a saved schedule leads
CHANGED = "election.schedule_changed"
# The seeded election: voting open for 10 days (240 hours), reminders [72, 24] by default.
WINDOW_HOURS = 240


@pytest.fixture
def election(app, clock, login_as) -> Election:
    with db.transaction() as s:
        make_election(s, clock())
    login_as("committee")
    return get_election(db.session, SLUG)


def _committee() -> int | None:
    """The logged-in committee member's id: the schedule events' ``by``."""
    return db.session.scalar(sa.select(User.id).where(User.role == "committee"))


def _local(election: Election, field: str) -> str:
    return election.local(getattr(election, field)).strftime("%Y-%m-%dT%H:%M:%S")


def _form(election: Election, reminders: str | None, **times: str) -> dict[str, str]:
    """The form as the page sends it: the current times unless given, and the reminders."""
    fields = ("nomination_opens", "nomination_closes", "voting_opens", "voting_closes")
    data = {f: times.get(f, _local(election, f)) for f in fields}
    if reminders is not None:
        data["reminders"] = reminders
    return data


def _stored() -> tuple[list[int], dict[str, str]]:
    """The stored reminder hours and times, read afresh."""
    db.session.expire_all()
    election = get_election(db.session, SLUG)
    times = {f: _local(election, f) for f in ("voting_opens", "voting_closes")}
    result = list(election.reminder_hours), times
    db.session.rollback()  # SQLite: a reading transaction would hold up the next request
    return result


def _events() -> list[dict]:
    found = [json.loads(e.body)["data"] for e in entries(db.session, SLUG, CHANGED)]
    db.session.rollback()
    return found


def _planned_reminders(app) -> set[str]:
    return {job for (slug, job) in upcoming(app.config) if job.startswith("reminder-")}


def _reminders_input(page: str) -> str:
    (tag,) = re.findall(r"<input[^>]*\bid=\"reminders\"[^>]*>", page)
    return tag


def test_form_shows_the_current_reminders_with_label_and_hint(client, election):
    page = client.get(URL).get_data(as_text=True)
    assert '<label for="reminders">Påminnelser (timmar före stängning)</label>' in page
    tag = _reminders_input(page)
    assert 'value="72, 24"' in tag
    assert 'aria-describedby="reminders-hint"' in tag
    assert 'id="reminders-hint"' in page
    flask_babel.refresh()  # the test's app context (and g) outlives the request
    english = client.get(URL + "?lang=en").get_data(as_text=True)
    assert "Reminders (hours before the close)" in english


def test_a_change_is_stored_logged_and_planned(app, client, election):
    assert _planned_reminders(app) == {"reminder-72h", "reminder-24h"}
    response = client.post(URL, data=_form(election, "6h, 48"))
    assert response.location == SAVED
    assert _stored()[0] == [48, 6]
    assert _events() == [
        {"field": "reminders", "old": [72, 24], "new": [48, 6], "by": _committee()}
    ]
    # The scheduler plans from the same column the CLI writes, at its next resync.
    assert _planned_reminders(app) == {"reminder-48h", "reminder-6h"}
    page = client.get(URL).get_data(as_text=True)
    assert 'value="48, 6"' in _reminders_input(page)

    election = get_election(db.session, SLUG)
    again = client.post(URL, data=_form(election, "48,6"))  # same hours, other spelling
    assert again.location == SAVED
    assert len(_events()) == 1


def test_times_and_reminders_change_in_one_request(client, election):
    closes = election.voting_closes
    new_close = election.local(closes + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    response = client.post(URL, data=_form(election, "2d", voting_closes=new_close))
    assert response.location == SAVED
    hours, times = _stored()
    assert hours == [48]
    assert times["voting_closes"] == new_close
    assert sorted(e["field"] for e in _events()) == ["reminders", "voting_closes"]


def test_empty_field_clears_the_reminders(app, client, election):
    response = client.post(URL, data=_form(election, "  "))
    assert response.location == SAVED
    assert _stored()[0] == []
    assert _events() == [{"field": "reminders", "old": [72, 24], "new": [], "by": _committee()}]
    assert _planned_reminders(app) == set()
    page = client.get(URL).get_data(as_text=True)
    assert 'value=""' in _reminders_input(page)


def test_a_post_without_the_field_leaves_the_reminders(client, election):
    response = client.post(URL, data=_form(election, None))
    assert response.location == SAVED
    assert _stored()[0] == [72, 24]
    assert _events() == []


def _assert_refused(response, before: tuple, *fragments: str) -> None:
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    text = html.unescape(page)
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    assert 'id="reminders-error"' in page
    tag = _reminders_input(page)
    assert 'aria-describedby="reminders-hint reminders-error"' in tag
    assert 'aria-invalid="true"' in tag
    assert _stored() == before
    assert before[0] == [72, 24]
    assert _events() == []


@pytest.mark.parametrize(
    ("typed", "fragments"),
    [
        ("72, soon", ["Påminnelse 2: 'soon' is not a time before the close"]),
        ("²", ["Påminnelse 1: '²' is not a time"]),
        ("72,,24", ["Påminnelse 2: '' is not a time"]),
        ("-5", ["Påminnelse 1: '-5' is not a time"]),
        ("0", ["Påminnelse 1: must be between 1 hour and 90 days"]),
        ("91d", ["Påminnelse 1: must be between 1 hour and 90 days"]),
        ("3d, 72", ["Påminnelse 2: 72 is the same time as '3d'"]),
        (f"{WINDOW_HOURS}", ["10d before the close is not after voting opens"]),
        ("24, 1" + ", 1" * 100, ["Högst 200 tecken."]),
    ],
)
def test_invalid_reminders_are_named_and_change_nothing(client, election, typed, fragments):
    # A valid time change rides along: it must be rolled back with the refused reminders.
    moved = election.local(election.voting_closes - timedelta(hours=1))
    form = _form(election, typed, voting_closes=moved.strftime("%Y-%m-%dT%H:%M:%S"))
    before = _stored()
    _assert_refused(client.post(URL, data=form), before, *fragments)


def test_a_bad_time_rolls_back_a_good_reminder_change(client, election):
    # A well-formed time the service refuses (voting would close before it opens): the
    # reminders are written in the same transaction, so they are rolled back too.
    early = election.local(election.voting_opens - timedelta(hours=1))
    form = _form(election, "48", voting_closes=early.strftime("%Y-%m-%dT%H:%M:%S"))
    response = client.post(URL, data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="voting_opens-error"' in page
    assert "must be before voting_closes" in page
    assert _stored()[0] == [72, 24]
    assert _events() == []


def test_unchanged_reminders_do_not_block_a_shorter_window(client, election):
    # Like `voting election schedule --voting-opens` alone: the stored reminders are not judged
    # again (the scheduler skips one that falls before voting opens); a changed list is.
    short = election.local(election.voting_closes - timedelta(hours=48))
    opens = short.strftime("%Y-%m-%dT%H:%M:%S")
    before = _stored()
    changed = client.post(URL, data=_form(election, "72, 12", voting_opens=opens))
    _assert_refused(changed, before, "3d before the close is not after voting opens")
    response = client.post(URL, data=_form(election, "72, 24", voting_opens=opens))
    assert response.location == SAVED
    hours, times = _stored()
    assert hours == [72, 24]
    assert times["voting_opens"] == opens
    assert [e["field"] for e in _events()] == ["voting_opens"]


def test_reminders_can_change_while_voting_is_open(client, clock, login_as, election):
    # The schedule form has no phase limit for the times; the reminders follow it.
    clock.set(election.voting_opens + timedelta(days=1))
    login_as("committee")  # the first login has expired by now
    election = get_election(db.session, SLUG)
    response = client.post(URL, data=_form(election, "12"))
    assert response.location == SAVED
    assert _stored()[0] == [12]


_JUNK = st.text(alphabet="abcwxyz!?.-+ /:", min_size=1, max_size=8).filter(
    lambda s: s.strip() != ""
)
_BAD_ITEMS = st.one_of(
    _JUNK.map(lambda s: (s, "is not a time before the close")),
    st.tuples(st.integers(1, 99), st.sampled_from(["w", "m", " min", ".5", "x"])).map(
        lambda t: (f"{t[0]}{t[1]}", "is not a time before the close")
    ),
    st.integers(1, 99).map(lambda n: (f"-{n}", "is not a time before the close")),
    st.sampled_from(["0", "0h", "0d", "2161", "91d", "99999"]).map(
        lambda s: (s, "must be between 1 hour and 90 days")
    ),
    st.integers(WINDOW_HOURS, 2160).map(lambda n: (str(n), "is not after voting opens")),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    good=st.lists(st.integers(1, WINDOW_HOURS - 1), unique=True, max_size=3),
    bad=_BAD_ITEMS,
    data=st.data(),
)
def test_generated_bad_reminders_are_refused(client, election, good, bad, data):
    item, fragment = bad
    position = data.draw(st.integers(0, len(good)))
    items = [str(h) for h in good]
    items.insert(position, item)
    election = get_election(db.session, SLUG)
    form = _form(election, ", ".join(items))
    before = _stored()
    _assert_refused(client.post(URL, data=form), before, fragment)
