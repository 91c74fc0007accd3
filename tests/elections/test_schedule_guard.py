"""What the schedule still lets change in each phase, and the election's slug and title.

Once voting has closed the board shows every ballot's content: no time and no reminder may
change then, or voting could be reopened with the count so far public.
"""

from __future__ import annotations

import html
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.factories import make_election
from voting.ballot.models import BoardSeal
from voting.db import db
from voting.elections.errors import ElectionFileError
from voting.elections.models import Election
from voting.elections.services import (
    SCHEDULE_FIELDS,
    SLUG_RE,
    check_slug,
    check_title,
    create_election,
    get_election,
    parse_election_file,
    parse_time,
)
from voting.lifecycle.schedule import reschedule, set_reminders
from voting.log.services import entries

SLUG = "val-test"
T0 = datetime(2031, 3, 1, 11, 0, tzinfo=UTC)  # the election is made here, nominations open
# The schedule make_election gives at T0 (Stockholm is UTC+1 until 30 March 2031):
NOMINATION_OPENS = T0 - timedelta(days=10)
NOMINATION_CLOSES = T0 + timedelta(days=1)  # 2031-03-02T12:00:00+01:00
VOTING_OPENS = T0 + timedelta(days=10)  # 2031-03-11T12:00:00+01:00
VOTING_CLOSES = T0 + timedelta(days=20)  # 2031-03-21T12:00:00+01:00
TICK = timedelta(microseconds=1)
PHASES = {
    "before_nomination": T0 - timedelta(days=11),
    "nomination": T0,
    "nomination_last_moment": NOMINATION_CLOSES,
    "nomination_just_closed": NOMINATION_CLOSES + TICK,
    "review": T0 + timedelta(days=5),
    "voting_first_moment": VOTING_OPENS,
    "voting": T0 + timedelta(days=15),  # 2031-03-16T12:00:00+01:00
    "voting_last_moment": VOTING_CLOSES,
    "closed": VOTING_CLOSES + TICK,
    "long_closed": VOTING_CLOSES + timedelta(days=30),
    # Sealed while the clock says voting is open (a clock set back): the seal alone decides.
    "sealed": T0 + timedelta(days=15),
}
CHANGED = "election.schedule_changed"
CLOSED = "voting closed at 2031-03-21T12:00:00+01:00; the schedule can no longer change"
SEALED = "the board is sealed; the schedule can no longer change"
OPENED = (
    "voting_opens: voting opened at 2031-03-11T12:00:00+01:00; "
    "the opening time can no longer change"
)
NOT_LATER = (
    "voting_closes: voting is open; the new close must be later than now "
    "(2031-03-16T12:00:00+01:00)"
)
NOMINATIONS_CLOSED = (
    "nominations closed at 2031-03-02T12:00:00+01:00; the nomination times can no longer change"
)


def _create(session, phase: str) -> Election:
    """The election, committed; sealed if the phase says so."""
    election = make_election(session, T0)
    session.flush()
    if phase == "sealed":
        session.add(BoardSeal(election_id=election.id, sealed_at=PHASES[phase], seal="{}"))
    session.commit()
    return election


def _state(session) -> tuple[dict[str, datetime], list[int], list[dict]]:
    """The stored times, reminders and schedule events, read afresh."""
    session.rollback()
    election = get_election(session, SLUG)
    times = {f: getattr(election, f) for f in SCHEDULE_FIELDS}
    state = (
        times,
        list(election.reminder_hours),
        [json.loads(e.body)["data"] for e in entries(session, SLUG, CHANGED)],
    )
    session.rollback()  # SQLite: a reading transaction would hold up the next writer
    return state


ORIGINAL = {
    "nomination_opens": NOMINATION_OPENS,
    "nomination_closes": NOMINATION_CLOSES,
    "voting_opens": VOTING_OPENS,
    "voting_closes": VOTING_CLOSES,
}
UNTOUCHED = (ORIGINAL, [72, 24], [])

REFUSED = [
    # After the close nothing moves, whichever field, and "now" is no way around it.
    ("closed", {"voting_closes": VOTING_CLOSES + timedelta(days=7)}, f"voting_closes: {CLOSED}"),
    ("closed", {"voting_closes": "now"}, f"voting_closes: {CLOSED}"),
    ("closed", {"voting_opens": VOTING_OPENS + timedelta(days=1)}, f"voting_opens: {CLOSED}"),
    (
        "long_closed",
        {"nomination_opens": NOMINATION_OPENS - timedelta(days=1)},
        f"nomination_opens: {CLOSED}",
    ),
    (
        "long_closed",
        {f: t + timedelta(days=60) for f, t in ORIGINAL.items()},
        f"nomination_opens: {CLOSED}",
    ),
    ("sealed", {"voting_closes": VOTING_CLOSES + timedelta(days=1)}, f"voting_closes: {SEALED}"),
    # Voting open: the opening is fixed; the close only moves to later than now.
    ("voting_first_moment", {"voting_opens": VOTING_OPENS + timedelta(hours=1)}, OPENED),
    ("voting", {"voting_opens": VOTING_OPENS - timedelta(days=1)}, OPENED),
    ("voting", {"voting_closes": "now"}, NOT_LATER),
    ("voting", {"voting_closes": PHASES["voting"]}, NOT_LATER),
    ("voting", {"voting_closes": PHASES["voting"] - timedelta(hours=1)}, NOT_LATER),
    # One refused field refuses the whole change: the allowed extension is not written either.
    (
        "voting",
        {
            "voting_closes": VOTING_CLOSES + timedelta(days=1),
            "voting_opens": VOTING_OPENS + timedelta(hours=1),
        },
        OPENED,
    ),
    (
        "voting",
        {"nomination_closes": NOMINATION_CLOSES + timedelta(hours=1)},
        f"nomination_closes: {NOMINATIONS_CLOSED}",
    ),
    # Nominations closed: both their times are fixed.
    (
        "nomination_just_closed",
        {"nomination_closes": NOMINATION_CLOSES + timedelta(days=1)},
        f"nomination_closes: {NOMINATIONS_CLOSED}",
    ),
    (
        "review",
        {"nomination_opens": NOMINATION_OPENS + timedelta(days=1)},
        f"nomination_opens: {NOMINATIONS_CLOSED}",
    ),
]


@pytest.mark.parametrize(("phase", "changes", "message"), REFUSED)
def test_a_change_the_phase_forbids_is_refused_and_writes_nothing(
    db_session, phase, changes, message
):
    election = _create(db_session, phase)
    with pytest.raises(ElectionFileError) as caught:
        reschedule(db_session, election, changes, PHASES[phase], by="cli")
    assert str(caught.value) == message
    assert _state(db_session) == UNTOUCHED


@pytest.mark.parametrize(
    ("phase", "message"),
    [
        ("closed", "reminders: voting closed at 2031-03-21T12:00:00+01:00; the reminders can no "
         "longer change"),
        ("long_closed", "reminders: voting closed at 2031-03-21T12:00:00+01:00; the reminders can "
         "no longer change"),
        ("sealed", "reminders: the board is sealed; the reminders can no longer change"),
    ],
)  # fmt: skip
def test_reminders_are_refused_after_the_close(db_session, phase, message):
    election = _create(db_session, phase)
    with pytest.raises(ElectionFileError) as caught:
        set_reminders(db_session, election, ["2d"], PHASES[phase], by="cli")
    assert str(caught.value) == message
    assert _state(db_session) == UNTOUCHED


ALLOWED = [
    ("before_nomination", {f: t + timedelta(hours=1) for f, t in ORIGINAL.items()}),
    # Past the old windows: each field alone would be out of order, all together are not.
    ("before_nomination", {f: t + timedelta(days=60) for f, t in ORIGINAL.items()}),
    ("before_nomination", {f: t - timedelta(days=60) for f, t in ORIGINAL.items()}),
    ("before_nomination", {"nomination_opens": PHASES["before_nomination"]}),
    ("nomination", {"nomination_closes": NOMINATION_CLOSES + timedelta(days=2)}),
    ("nomination", {"nomination_opens": NOMINATION_OPENS - timedelta(days=1)}),
    ("nomination", {"nomination_closes": "now"}),  # the README's way to end nominations
    ("nomination_last_moment", {"nomination_closes": NOMINATION_CLOSES + timedelta(hours=1)}),
    ("nomination", {"voting_opens": VOTING_OPENS + timedelta(days=1)}),
    ("review", {"voting_opens": "now"}),  # the README's way to open voting
    (
        "review",
        {
            "voting_opens": VOTING_OPENS + timedelta(days=1),
            "voting_closes": VOTING_CLOSES - timedelta(days=1),
        },
    ),
    ("voting_first_moment", {"voting_closes": VOTING_CLOSES + timedelta(days=1)}),
    ("voting", {"voting_closes": VOTING_CLOSES + timedelta(days=7)}),
    ("voting", {"voting_closes": PHASES["voting"] + timedelta(minutes=1)}),  # shortened
    ("voting_last_moment", {"voting_closes": VOTING_CLOSES + timedelta(hours=1)}),
]


@pytest.mark.parametrize(("phase", "changes"), ALLOWED)
def test_a_change_the_phase_allows_is_stored_and_logged(db_session, phase, changes):
    now = PHASES[phase]
    election = _create(db_session, phase)
    changed = reschedule(db_session, election, changes, now, by="cli")
    db_session.commit()
    expected = {f: now if v == "now" else v for f, v in changes.items()}
    assert set(changed) == set(expected)
    times, reminders, events = _state(db_session)
    assert times == ORIGINAL | expected
    assert reminders == [72, 24]
    assert [(e["field"], e["new"]) for e in events] == [
        (f, expected[f].isoformat()) for f in SCHEDULE_FIELDS if f in expected
    ]


@pytest.mark.parametrize("phase", ["before_nomination", "nomination", "review", "voting"])
def test_reminders_still_change_before_the_close(db_session, phase):
    election = _create(db_session, phase)
    assert set_reminders(db_session, election, ["12h"], PHASES[phase], by="cli") == ([72, 24], [12])
    db_session.commit()
    times, reminders, events = _state(db_session)
    assert (times, reminders) == (ORIGINAL, [12])
    assert events == [{"field": "reminders", "old": [72, 24], "new": [12], "by": "cli"}]


@pytest.mark.parametrize("phase", ["closed", "sealed"])
def test_the_same_values_again_are_no_change_after_the_close(db_session, phase):
    election = _create(db_session, phase)
    assert reschedule(db_session, election, dict(ORIGINAL), PHASES[phase], by="cli") == {}
    assert set_reminders(db_session, election, ["1d", "3d"], PHASES[phase], by="cli") is None
    db_session.commit()
    assert _state(db_session) == UNTOUCHED


# --- The CLI --------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.mark.parametrize(
    ("phase", "options", "message"),
    [
        (
            "closed",
            ["--voting-closes", _iso(VOTING_CLOSES + timedelta(days=7))],
            f"voting_closes: {CLOSED}",
        ),
        ("sealed", ["--voting-closes", "now"], f"voting_closes: {SEALED}"),
        (
            "closed",
            ["--reminders", "2d"],
            "reminders: voting closed at 2031-03-21T12:00:00+01:00; the reminders can no longer "
            "change",
        ),
        ("voting", ["--voting-closes", "now"], NOT_LATER),
        (
            "voting",
            [
                "--voting-closes",
                _iso(VOTING_CLOSES + timedelta(days=1)),
                "--voting-opens",
                _iso(VOTING_OPENS + timedelta(hours=1)),
            ],
            OPENED,
        ),
        # A refused time takes the reminders given with it down too.
        ("review", ["--nomination-closes", "now", "--reminders", "2d"], None),
    ],
)
def test_cli_refuses_with_the_field_and_writes_nothing(
    runner, clock, db_session, phase, options, message
):
    clock.set(PHASES[phase])
    _create(db_session, phase)
    db_session.rollback()
    result = runner.invoke(args=["election", "schedule", SLUG, *options])
    assert result.exit_code == 1, result.output
    expected = message or f"nomination_closes: {NOMINATIONS_CLOSED}"
    assert f"Error: {expected}\n" in result.output
    assert _state(db_session) == UNTOUCHED


def test_cli_extends_and_changes_reminders_while_voting_is_open(runner, clock, db_session):
    clock.set(PHASES["voting"])
    _create(db_session, "voting")
    db_session.rollback()
    later = VOTING_CLOSES + timedelta(days=1)
    result = runner.invoke(
        args=["election", "schedule", SLUG, "--voting-closes", _iso(later), "--reminders", "12h"]
    )
    assert result.exit_code == 0, result.output
    assert "voting_closes: 2031-03-21T12:00:00+01:00 -> 2031-03-22T12:00:00+01:00" in result.output
    times, reminders, events = _state(db_session)
    assert times == ORIGINAL | {"voting_closes": later}
    assert reminders == [12]
    assert [e["field"] for e in events] == ["voting_closes", "reminders"]


# --- The committee's schedule page --------------------------------------------------------

URL = f"/admin/val/{SLUG}/schema"


def _form(reminders: str = "72, 24", **times: datetime) -> dict[str, str]:
    """The form as the page sends it: every time in local wall-clock time, and the reminders."""
    values = ORIGINAL | times
    data = {
        f: values[f].astimezone(get_election(db.session, SLUG).tz).strftime("%Y-%m-%dT%H:%M:%S")
        for f in SCHEDULE_FIELDS
    }
    db.session.rollback()
    return data | {"reminders": reminders}


@pytest.fixture
def page_at(app, clock, login_as):
    """Make the election, put the clock in ``phase`` and log in as the committee."""

    def _at(phase: str) -> None:
        clock.set(PHASES[phase])
        with db.transaction() as s:
            _create(s, phase)
        login_as("committee")

    return _at


@pytest.mark.parametrize(
    ("phase", "form", "field", "message"),
    [
        (
            "closed",
            {"voting_closes": VOTING_CLOSES + timedelta(days=7)},
            "voting_closes",
            CLOSED,
        ),
        ("voting", {"voting_opens": VOTING_OPENS + timedelta(hours=1)}, "voting_opens", OPENED),
        (
            "review",
            {"nomination_closes": NOMINATION_CLOSES + timedelta(days=1)},
            "nomination_closes",
            NOMINATIONS_CLOSED,
        ),
        (
            "closed",
            {"reminders": "2d"},
            "reminders",
            "voting closed at 2031-03-21T12:00:00+01:00; the reminders can no longer change",
        ),
    ],
)
def test_the_page_shows_the_refusal_on_the_field(client, page_at, phase, form, field, message):
    page_at(phase)
    form = dict(form)  # the parameter is shared by both backends' runs
    reminders = form.pop("reminders", "72, 24")
    response = client.post(URL, data=_form(reminders, **form))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f'id="{field}-error"' in text
    assert message.split(": ", 1)[-1] in html.unescape(text)
    assert _state(db.session) == UNTOUCHED


def test_the_page_saves_unchanged_after_the_close(client, page_at):
    page_at("closed")
    response = client.post(URL, data=_form())
    assert response.status_code == 302
    assert _state(db.session) == UNTOUCHED


def test_the_page_extends_voting_while_it_is_open(client, page_at):
    page_at("voting")
    later = VOTING_CLOSES + timedelta(days=2)
    response = client.post(URL, data=_form(voting_closes=later))
    assert response.status_code == 302
    times, _reminders, events = _state(db.session)
    assert times["voting_closes"] == later
    assert [e["field"] for e in events] == ["voting_closes"]


# --- Slug and title ---------------------------------------------------------------------------

FILE = """
slug = {slug}
title = {title}
[schedule]
nomination_opens = "2030-10-01T00:00"
nomination_closes = "2030-11-30T23:59:59"
voting_opens = "2031-01-12T00:00"
voting_closes = "2031-01-25T23:59:59"
[[krets]]
code = {code}
name = "Södermalm"
seats = 3
"""


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string; everything but printable ASCII escaped."""
    out = []
    for c in text:
        if c in '"\\' or not (" " <= c <= "~"):
            out.append(f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def election_file(slug="kongress-2031", title="Kongressombudsval 2031", code="SODERMALM"):
    return FILE.format(slug=toml_string(slug), title=toml_string(title), code=toml_string(code))


def test_the_file_helper_round_trips():
    spec = parse_election_file(election_file(title='Val å "citat" \\ 2031'))
    assert (spec["slug"], spec["title"]) == ("kongress-2031", 'Val å "citat" \\ 2031')


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"slug": "abc\n"}, "slug: use 2-63 lower-case letters"),
        ({"slug": "kongress-2031\r\n"}, "slug: use 2-63 lower-case letters"),
        ({"slug": "register"}, "slug: 'register' is reserved (the register's audit log)"),
        ({"title": "Kongressval\r\nBcc: x@example.org"}, "title: must not contain control"),
        ({"title": "Kongressval\n2031"}, "title: must not contain control characters or line"),
        ({"title": "Kongressval\u2028 2031"}, "title: must not contain control characters"),
        ({"title": "Kongress\x00val"}, "title: must not contain control characters"),
        ({"title": "x" * 201}, "title: at most 200 characters"),
        ({"title": " \n\t "}, "title: must not be empty"),
        ({"code": "SODERMALM\n"}, "krets[1].code: use A-Z, 0-9"),
    ],
)
def test_bad_slug_or_title_is_refused_and_creates_nothing(db_session, change, message):
    with pytest.raises(ElectionFileError) as caught:
        create_election(db_session, election_file(**change), T0, by="cli")
    assert str(caught.value).startswith(message), str(caught.value)
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Election)) == 0
    assert entries(db_session, change.get("slug", "kongress-2031")) == []


def test_surrounding_whitespace_of_the_title_is_dropped():
    assert check_title("  Kongressval 2031\n") == "Kongressval 2031"
    assert check_title("Val 👍🏽 ok") == "Val 👍🏽 ok"  # not every non-letter is refused


_SLUG = st.from_regex(SLUG_RE, fullmatch=True)
_LINE_BREAKING = st.characters(categories=["Cc", "Zl", "Zp"])


@given(slug=_SLUG, bad=_LINE_BREAKING, data=st.data())
def test_a_slug_with_a_control_character_anywhere_is_refused(slug, bad, data):
    at = data.draw(st.integers(0, len(slug)))
    for candidate in (slug[:at] + bad + slug[at:], slug + "\n"):
        with pytest.raises(ElectionFileError, match="^slug: use 2-63"):
            check_slug(candidate)
        with pytest.raises(ElectionFileError, match="^slug: "):
            parse_election_file(election_file(slug=candidate))


@given(st.text(max_size=70))
def test_an_accepted_slug_is_only_letters_digits_and_hyphens(text):
    try:
        check_slug(text)
    except ElectionFileError:
        return
    assert 2 <= len(text) <= 63
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert text != "register"


@given(
    before=st.text(min_size=1, max_size=20).filter(lambda s: s.strip()),
    bad=_LINE_BREAKING,
    after=st.text(max_size=20),
)
def test_a_title_with_a_control_character_or_line_break_inside_is_refused(before, bad, after):
    title = before.strip() + bad + after + "x"
    with pytest.raises(ElectionFileError, match="^title: "):
        parse_election_file(election_file(title=title))


@given(st.text(max_size=80))
def test_an_accepted_title_has_no_line_break(text):
    try:
        title = check_title(text)
    except ElectionFileError:
        return
    assert title == text.strip()
    assert len(title.splitlines()) == 1
    assert not any(unicodedata.category(c) == "Cc" for c in title)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("now", 0), ("NOW", 0), ("now+1m", 1), ("now + 5m", 5), ("now+2h", 120), (" now+90M ", 90)],
)
def test_now_shorthand(text, minutes):
    moment = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
    got = parse_time(text, ZoneInfo("Europe/Stockholm"), "voting_closes", now=moment)
    assert got == moment + timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["now+", "now+5", "now+5d", "now-5m", "now+99999m", "tomorrow"])
def test_now_shorthand_refuses_what_it_does_not_know(text):
    moment = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(ElectionFileError, match="voting_closes: .* is not an ISO 8601 time"):
        parse_time(text, ZoneInfo("Europe/Stockholm"), "voting_closes", now=moment)
