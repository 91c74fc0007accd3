"""Create elections from their TOML file and read them (schedule changes: lifecycle/schedule.py)."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog.events import ELECTION_CREATED, ELECTION_SCHEDULE_CHANGED
from ballots import SelectionRule, SelectionRuleError
from voting.elections.errors import ElectionFileError, ElectionNotFound
from voting.elections.models import SIGN_IN_LINK, SIGN_IN_MODES, Contest, Election
from voting.log.keys import ensure_log_key, public_key_b64
from voting.log.services import REGISTER_LOG, Actor, append
from voting.members.models import Krets
from voting.text import codepoint, forbidden_in_line

SCHEDULE_FIELDS = ("nomination_opens", "nomination_closes", "voting_opens", "voting_closes")
# Used with fullmatch: "$" would also match before a trailing newline ("abc\n").
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
KRETS_CODE_RE = re.compile(r"[A-Z0-9_-]{1,40}")
# Why reserved: the district-wide audit log (member register, staff) is named "register", and an
# election logs under its slug; an election "register" would write into that log.
RESERVED_SLUGS = frozenset({REGISTER_LOG})
TITLE_MAX = 200  # election.title is VARCHAR(200)
REMINDERS_FIELD = "reminders"
DEFAULT_REMINDER_HOURS = (72, 24)
MAX_REMINDER_HOURS = 90 * 24
REMINDER_RE = re.compile(r"^(\d{1,5})\s*([dh])$")


NOW_RE = re.compile(r"now(?:\s*\+\s*(\d{1,4})\s*([mh]))?", re.ASCII | re.IGNORECASE)


def parse_time(value: object, tz: ZoneInfo, field: str, now: datetime | None = None) -> datetime:
    """ISO 8601 to aware UTC; a time without offset is wall-clock time in ``tz`` (DST aware).

    With ``now`` given, "now" and "now+5m" / "now+2h" are accepted too (the CLI's shorthand).
    """
    if isinstance(value, str) and now is not None and (match := NOW_RE.fullmatch(value.strip())):
        amount, unit = match.groups()
        if amount is None:
            return now
        return now + timedelta(**{"minutes" if unit.lower() == "m" else "hours": int(amount)})
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ElectionFileError(f"{value!r} is not an ISO 8601 time", field=field) from exc
    else:
        raise ElectionFileError("must be an ISO 8601 time", field=field)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(ZoneInfo("UTC"))


def check_schedule(times: dict[str, datetime]) -> None:
    """The windows must be in order: nominations, then voting."""
    pairs = (
        ("nomination_opens", "nomination_closes", "must be before nomination_closes"),
        ("nomination_closes", "voting_opens", "the nomination window must end before voting opens"),
        ("voting_opens", "voting_closes", "must be before voting_closes"),
    )
    for first, second, message in pairs:
        if not times[first] < times[second]:
            field = second if first == "nomination_closes" else first
            raise ElectionFileError(message, field=f"schedule.{field}")


def format_reminder(hours: int) -> str:
    """Hours before the close as the election file writes them: "3d" or "36h"."""
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def parse_reminders(value: object, field: str = "schedule.reminders") -> list[int]:
    """Reminder times before voting closes, as hours, latest reminder last (e.g. [72, 24]).

    Each item is a string of days or hours ("3d", "36h") or an integer number of hours; an
    empty list means no reminders.
    """
    if not isinstance(value, list):
        raise ElectionFileError(
            'must be a list of times before voting closes, like ["3d", "1d"] or [72, 24]',
            field=field,
        )
    seen: dict[int, object] = {}
    for index, item in enumerate(value, start=1):
        where = f"{field}[{index}]"
        if isinstance(item, int) and not isinstance(item, bool):
            hours = item
        elif isinstance(item, str) and (match := REMINDER_RE.match(item.strip().lower())):
            hours = int(match[1]) * (24 if match[2] == "d" else 1)
        else:
            raise ElectionFileError(
                f'{item!r} is not a time before the close; write "3d", "12h" or hours as a number',
                field=where,
            )
        if not 1 <= hours <= MAX_REMINDER_HOURS:
            raise ElectionFileError(
                "must be between 1 hour and 90 days before the close", field=where
            )
        if hours in seen:
            raise ElectionFileError(f"{item!r} is the same time as {seen[hours]!r}", field=where)
        seen[hours] = item
    return sorted(seen, reverse=True)


def reminder_items(text: str) -> list[int | str]:
    """Typed reminders ("3d, 1d", "72,24"; "" or "none" for none) as the election file's list.

    Only splits the text: :func:`parse_reminders` (via :func:`set_reminders`) judges the items.
    """
    if text.strip().lower() in ("", "none"):
        return []
    items = [item.strip() for item in text.split(",")]
    # Why ASCII only: str.isdigit() is true for "²", which int() refuses.
    return [int(item) if item.isascii() and item.isdigit() else item for item in items]


def check_reminders(hours: list[int], times: dict[str, datetime], field: str) -> None:
    """Every reminder must fall inside the voting window."""
    window = times["voting_closes"] - times["voting_opens"]
    for value in hours:
        if timedelta(hours=value) >= window:
            raise ElectionFileError(
                f"{format_reminder(value)} before the close is not after voting opens", field=field
            )


def check_slug(slug: str) -> str:
    """The slug, if it is 2-63 lower-case letters, digits and hyphens and not reserved."""
    if not SLUG_RE.fullmatch(slug):
        raise ElectionFileError(
            "use 2-63 lower-case letters, digits and hyphens, starting with a letter or digit",
            field="slug",
        )
    if slug in RESERVED_SLUGS:
        raise ElectionFileError(
            f"{slug!r} is reserved (the register's audit log); choose another", field="slug"
        )
    return slug


def check_title(value: str) -> str:
    """The title without surrounding whitespace; no control, line break or bidi control inside."""
    title = value.strip()
    if not title:
        raise ElectionFileError("must not be empty", field="title")
    # Why: the title goes into mail subjects, where a line break makes every voting-link mail
    # fail, and into headers and files where it would split a line; a bidi control would make
    # it read as another title there (voting/text.py).
    bad = forbidden_in_line(title)
    if bad is not None:
        raise ElectionFileError(
            "must not contain control characters or line breaks or bidi controls (found "
            f"{codepoint(bad)})",
            field="title",
        )
    if len(title) > TITLE_MAX:
        raise ElectionFileError(f"at most {TITLE_MAX} characters", field="title")
    return title


def _require(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise ElectionFileError("missing", field=f"{where}{key}")
    value = data[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ElectionFileError(f"must be {kind.__name__}", field=f"{where}{key}")
    return value


def parse_election_file(text: str) -> dict[str, Any]:
    """Validate an election file completely; return clean values or raise naming the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ElectionFileError(f"not valid TOML: {exc}") from exc
    known = {"slug", "title", "timezone", "sign_in", "schedule", "krets"}
    for key in data:
        if key not in known:
            raise ElectionFileError("unknown field", field=key)
    slug = check_slug(_require(data, "slug", str, ""))
    title = check_title(_require(data, "title", str, ""))
    sign_in = check_sign_in(data.get("sign_in", SIGN_IN_LINK))
    tz_name = data.get("timezone", "Europe/Stockholm")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ElectionFileError(f"unknown timezone {tz_name!r}", field="timezone") from exc
    schedule = _require(data, "schedule", dict, "")
    for key in schedule:
        if key not in (*SCHEDULE_FIELDS, REMINDERS_FIELD):
            raise ElectionFileError("unknown field", field=f"schedule.{key}")
    times = {}
    for field in SCHEDULE_FIELDS:
        if field not in schedule:
            raise ElectionFileError("missing", field=f"schedule.{field}")
        times[field] = parse_time(schedule[field], tz, f"schedule.{field}")
    check_schedule(times)
    reminder_hours = list(DEFAULT_REMINDER_HOURS)
    if REMINDERS_FIELD in schedule:
        reminder_hours = parse_reminders(schedule[REMINDERS_FIELD])
        check_reminders(reminder_hours, times, "schedule.reminders")
    kretsar = data.get("krets")
    if not isinstance(kretsar, list) or not kretsar:
        raise ElectionFileError("at least one [[krets]] is needed", field="krets")
    contests, seen = [], set()
    for index, krets in enumerate(kretsar, start=1):
        where = f"krets[{index}]."
        if not isinstance(krets, dict):
            raise ElectionFileError("must be a table", field=f"krets[{index}]")
        for key in krets:
            if key not in {
                "code",
                "name",
                "seats",
                "min_selections",
                "max_selections",
                "substitutes",
            }:
                raise ElectionFileError("unknown field", field=f"{where}{key}")
        code = _require(krets, "code", str, where)
        if not KRETS_CODE_RE.fullmatch(code):
            raise ElectionFileError("use A-Z, 0-9, '_' and '-' only", field=f"{where}code")
        if code in seen:
            raise ElectionFileError(f"{code} appears twice", field=f"{where}code")
        seen.add(code)
        name = _require(krets, "name", str, where).strip()
        if not name:
            raise ElectionFileError("must not be empty", field=f"{where}name")
        if (bad := forbidden_in_line(name)) is not None:
            raise ElectionFileError(
                "must not contain control characters, line breaks or bidi controls (found "
                f"{codepoint(bad)})",
                field=f"{where}name",
            )
        try:
            rule = SelectionRule.build(
                _require(krets, "seats", int, where),
                krets.get("min_selections"),
                krets.get("max_selections"),
                krets.get("substitutes"),
            )
        except SelectionRuleError as exc:
            raise ElectionFileError(f"{where}{exc}") from exc
        contests.append({"code": code, "name": name, "rule": rule})
    return {
        "slug": slug,
        "title": title,
        "timezone": tz_name,
        "times": times,
        "reminder_hours": reminder_hours,
        "sign_in": sign_in,
        "contests": contests,
    }


def create_election(session: Session, text: str, now: datetime, *, by: Actor) -> Election:
    """Create an election and its contests from the TOML text; nothing is written on error."""
    spec = parse_election_file(text)
    if session.scalar(select(Election.id).where(Election.slug == spec["slug"])) is not None:
        raise ElectionFileError(f"an election {spec['slug']!r} already exists", field="slug")
    election = Election(
        slug=spec["slug"],
        title=spec["title"],
        timezone=spec["timezone"],
        reminder_hours=spec["reminder_hours"],
        sign_in=spec["sign_in"],
        created_at=now,
        **spec["times"],
    )
    session.add(election)
    for item in spec["contests"]:
        krets = session.get(Krets, item["code"])
        if krets is None:
            session.add(Krets(code=item["code"], name=item["name"]))
        else:
            krets.name = item["name"]
        rule: SelectionRule = item["rule"]
        election.contests.append(
            Contest(
                krets_code=item["code"],
                seats=rule.seats,
                min_selections=rule.min_selections,
                max_selections=rule.max_selections,
                substitutes=rule.substitutes,
            )
        )
    session.flush()
    log_key = ensure_log_key(session, election.slug)
    append(
        session,
        election.slug,
        ELECTION_CREATED,
        {
            "title": election.title,
            "timezone": election.timezone,
            "log_key": public_key_b64(log_key),
            "schedule": {f: getattr(election, f).isoformat() for f in SCHEDULE_FIELDS},
            "reminder_hours": list(election.reminder_hours),
            "contests": [
                {
                    "id": c.id,
                    "krets": c.krets_code,
                    "seats": c.seats,
                    "min_selections": c.min_selections,
                    "max_selections": c.max_selections,
                    "substitutes": c.substitutes,
                }
                for c in election.contests
            ],
            "by": by,
        },
        now,
    )
    if election.sign_in != SIGN_IN_LINK:
        # election.created keeps its exact payload (auditlog/events.py); the mode is logged
        # as a change from the default instead, like every later change of it.
        _log_sign_in(session, election, SIGN_IN_LINK, election.sign_in, now, by)
    return election


def check_sign_in(value: object, field: str = "sign_in") -> str:
    """The sign-in mode if it is one of ``link``, ``eid`` and ``link+eid``."""
    if not isinstance(value, str) or value.strip() not in SIGN_IN_MODES:
        modes = ", ".join(repr(m) for m in SIGN_IN_MODES)
        raise ElectionFileError(f"must be one of {modes}", field=field)
    return value.strip()


def _log_sign_in(
    session: Session, election: Election, old: str, new: str, now: datetime, by: Actor
) -> None:
    data = {"field": "sign_in", "old": old, "new": new, "by": by}
    append(session, election.slug, ELECTION_SCHEDULE_CHANGED, data, now)


def set_sign_in(
    session: Session, election: Election, value: object, now: datetime, *, by: Actor
) -> bool:
    """Change how voters sign in; logged. Returns whether it changed.

    Refused once voting has opened: a member who began with one credential must not find
    another demanded halfway, and the mails already sent say which one to use.
    """
    mode = check_sign_in(value)
    election = lock_election(session, election)
    if mode == election.sign_in:
        return False
    if now >= election.voting_opens:
        raise ElectionFileError(
            f"voting opened at {local_stamp(election, election.voting_opens)}; the sign-in mode "
            "can no longer change",
            field="sign_in",
        )
    old, election.sign_in = election.sign_in, mode
    _log_sign_in(session, election, old, mode, now, by)
    session.flush()
    return True


def get_election(session: Session, slug: str) -> Election:
    """The election with ``slug``, or ElectionNotFound."""
    election = session.scalar(select(Election).where(Election.slug == slug))
    if election is None:
        raise ElectionNotFound(f"no election with slug {slug!r}")
    return election


def list_elections(session: Session) -> list[Election]:
    return list(session.scalars(select(Election).order_by(Election.nomination_opens.desc())))


def lock_election(session: Session, election: Election) -> Election:
    """Re-read the election's row under a row lock (PostgreSQL; SQLite serializes writers).

    Why: the guards below judge the stored times; two changes in flight must not both pass
    against the same old times.
    """
    session.flush()
    session.refresh(election, with_for_update=True)
    return election


def local_stamp(election: Election, moment: datetime) -> str:
    return election.local(moment).replace(microsecond=0).isoformat()
