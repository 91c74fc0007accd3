"""The schedule guard: which times and reminders may still change, and changing them.

An election's times are final once voting has closed or the board is sealed; once voting has
opened its opening time is fixed and the close may only move later than now; once nominations
have closed both nomination times are fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from auditlog.events import ELECTION_SCHEDULE_CHANGED
from voting.ballot.models import BoardSeal
from voting.elections.errors import ElectionFileError
from voting.elections.models import Election
from voting.elections.services import (
    REMINDERS_FIELD,
    SCHEDULE_FIELDS,
    check_reminders,
    check_schedule,
    local_stamp,
    lock_election,
    parse_reminders,
    parse_time,
)
from voting.log.services import Actor, append


def _closed_reason(session: Session, election: Election, now: datetime) -> str | None:
    """Why the election's schedule is final, or None while it may still change."""
    if session.get(BoardSeal, election.id) is not None:
        return "the board is sealed"
    if now > election.voting_closes:
        return f"voting closed at {local_stamp(election, election.voting_closes)}"
    return None


def check_schedule_change(
    session: Session, election: Election, changed: dict[str, datetime], now: datetime
) -> None:
    """Refuse a change of the stored times that the election's phase no longer allows.

    ``changed`` holds only the fields whose value differs from the stored one. The rules:
    after the close (or once the board is sealed) nothing changes; once voting has opened,
    ``voting_opens`` is fixed and ``voting_closes`` may move only to a moment later than now;
    once nominations have closed, both nomination times are fixed. A window that has not
    opened may move freely (still in order).
    """
    if not changed:
        return
    first = next(f for f in SCHEDULE_FIELDS if f in changed)
    # Why: from the second after the close the board shows every ballot's content; moving the
    # close forward then would reopen voting with the running count public.
    if (reason := _closed_reason(session, election, now)) is not None:
        raise ElectionFileError(f"{reason}; the schedule can no longer change", field=first)
    nominations_closed = now > election.nomination_closes
    for field in ("nomination_opens", "nomination_closes"):
        if field in changed and nominations_closed:
            raise ElectionFileError(
                f"nominations closed at {local_stamp(election, election.nomination_closes)}; the "
                "nomination times can no longer change",
                field=field,
            )
    if now >= election.voting_opens:
        if "voting_opens" in changed:
            raise ElectionFileError(
                f"voting opened at {local_stamp(election, election.voting_opens)}; the opening "
                "time can no longer change",
                field="voting_opens",
            )
        # Why later than now, not "now or later": a close at or before the present moment
        # would put ballots already cast after the close, and make the board public at once.
        if "voting_closes" in changed and not changed["voting_closes"] > now:
            raise ElectionFileError(
                "voting is open; the new close must be later than now "
                f"({local_stamp(election, now)})",
                field="voting_closes",
            )


def reschedule(
    session: Session,
    election: Election,
    changes: Mapping[str, str | datetime],
    now: datetime,
    *,
    by: Actor,
) -> dict[str, tuple[datetime, datetime]]:
    """Change schedule times; log each change with old and new value. Returns what changed.

    Nothing is written when a change is refused: see :func:`check_schedule_change`.
    """
    for field in changes:
        if field not in SCHEDULE_FIELDS:
            raise ElectionFileError("unknown schedule field", field=field)
    election = lock_election(session, election)
    times = {f: getattr(election, f) for f in SCHEDULE_FIELDS}
    for field, value in changes.items():
        times[field] = parse_time(value, election.tz, field, now)
    changed = {
        f: (getattr(election, f), times[f])
        for f in SCHEDULE_FIELDS
        if times[f] != getattr(election, f)
    }
    check_schedule_change(session, election, {f: new for f, (_, new) in changed.items()}, now)
    check_schedule(times)
    # Why all before the first event: appending flushes, and the row must meet its CHECK
    # constraints (the windows in order) when it is written, not only after the last field.
    for field, (_old, new) in changed.items():
        setattr(election, field, new)
    for field, (old, new) in changed.items():
        append(
            session,
            election.slug,
            ELECTION_SCHEDULE_CHANGED,
            {"field": field, "old": old.isoformat(), "new": new.isoformat(), "by": by},
            now,
        )
    session.flush()
    return changed


def set_reminders(
    session: Session, election: Election, value: object, now: datetime, *, by: Actor
) -> tuple[list[int], list[int]] | None:
    """Change when non-voters are reminded; log old and new. Returns (old, new), None if same.

    Refused once voting has closed or the board is sealed.
    """
    hours = parse_reminders(value, REMINDERS_FIELD)
    election = lock_election(session, election)
    times = {f: getattr(election, f) for f in SCHEDULE_FIELDS}
    check_reminders(hours, times, REMINDERS_FIELD)
    old = list(election.reminder_hours or [])
    if sorted(old, reverse=True) == hours:
        return None
    # Why: a reminder after the close has nothing to remind of; like the times, the reminders
    # are final once the contents are public.
    if (reason := _closed_reason(session, election, now)) is not None:
        raise ElectionFileError(
            f"{reason}; the reminders can no longer change", field=REMINDERS_FIELD
        )
    election.reminder_hours = hours
    append(
        session,
        election.slug,
        ELECTION_SCHEDULE_CHANGED,
        {"field": REMINDERS_FIELD, "old": old, "new": hours, "by": by},
        now,
    )
    session.flush()
    return old, hours
