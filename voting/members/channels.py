"""Each member's voting channel: a mailed link, a letter with a voting code, or a postal ballot.

The committee sets it in bulk, from a CSV of ``member_id,channel`` or by a rule ("everyone
without a usable email address gets a letter"), and for one member from the command line. A
letter or a postal ballot needs a postal address in the register, a mailed link an email
address: a change that would leave a member with a channel that cannot reach them is refused.
Every change is logged with counts and the actor only, never with whom it concerned.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from voting.log.services import REGISTER_LOG, Actor, append
from voting.members.errors import RegisterError, RegisterImportError, RowError
from voting.members.importing import common_checks, read_rows
from voting.members.models import Channel, Member

CHANNEL_HEADER = ("member_id", "channel")
# The rule's name for "no usable email address": none in the register, or one that bounced.
RULE_NO_EMAIL = "no-email"


@dataclass(frozen=True)
class ChannelChange:
    """What a change of channels did: how many changed, how many were already so, by channel."""

    changed: int
    unchanged: int
    skipped: int  # by a rule: members it would have given a channel that cannot reach them
    per_channel: dict[str, int]

    def as_log(self, by: Actor) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "channels": self.per_channel,
            "by": by,
        }


def _unreachable_by(member: Member, channel: str) -> str | None:
    """Why ``channel`` cannot reach ``member`` (an error code), or None if it can."""
    if channel == Channel.EMAIL and not member.email:
        return "no_email"
    if channel in (Channel.LETTER, Channel.POSTAL) and member.address_enc is None:
        return "no_address"
    return None


def _apply(session: Session, members: list[Member], channel: str, now: datetime) -> tuple[int, int]:
    changed = unchanged = 0
    for member in members:
        if member.channel == channel:
            unchanged += 1
        else:
            member.channel = channel
            member.updated_at = now
            changed += 1
    session.flush()
    return changed, unchanged


def _counts(session: Session) -> dict[str, int]:
    counts = Counter(session.scalars(select(Member.channel)))
    return {c.value: counts.get(c.value, 0) for c in Channel}


def _finish(
    session: Session, changed: int, unchanged: int, skipped: int, now: datetime, by: Actor
) -> ChannelChange:
    result = ChannelChange(changed, unchanged, skipped, _counts(session))
    append(session, REGISTER_LOG, "members.channels_set", result.as_log(by), now)
    return result


def set_channel(
    session: Session, member_id: str, channel: str, now: datetime, *, by: Actor
) -> ChannelChange:
    """Set one member's channel; RegisterError names what is wrong."""
    if channel not in set(Channel):
        raise RegisterError.coded("unknown_channel", channel=channel[:20])
    member = session.get(Member, member_id)
    if member is None:
        raise RegisterError.coded("no_member", id=member_id[:40])
    why = _unreachable_by(member, channel)
    if why is not None:
        raise RegisterError.coded(why)
    changed, unchanged = _apply(session, [member], channel, now)
    return _finish(session, changed, unchanged, 0, now, by)


def set_channels_from_csv(
    session: Session, source: Any, now: datetime, *, by: Actor
) -> ChannelChange:
    """Set the channels a CSV of ``member_id,channel`` gives; all or nothing.

    RegisterImportError lists every bad row: an unknown member or channel, a member twice, or
    a channel that cannot reach the member."""
    rows, _digest = read_rows(source, (CHANNEL_HEADER,))
    ids = [row["member_id"] for _n, row in rows if "member_id" in row]
    found: dict[str, Member] = {}
    for start in range(0, len(ids), 1000):  # bounded IN lists, whatever the file's size
        chunk = select(Member).where(Member.member_id.in_(ids[start : start + 1000]))
        found.update((m.member_id, m) for m in session.scalars(chunk))
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    plan: dict[str, list[Member]] = {c.value: [] for c in Channel}
    for row_no, row in rows:
        row_errors = common_checks(row_no, row, frozenset())
        if row_errors:
            errors += row_errors
            continue
        member, channel = found.get(row["member_id"]), row["channel"].lower()
        if member is None:
            unknown = {"id": row["member_id"][:40]}
            errors.append(RowError(row_no, "member_id", "no_member", unknown))
        elif row["member_id"] in seen:
            twice = {"row": seen[row["member_id"]]}
            errors.append(RowError(row_no, "member_id", "member_id_twice", twice))
        elif channel not in plan:
            errors.append(RowError(row_no, "channel", "channel_values"))
        elif (why := _unreachable_by(member, channel)) is not None:
            errors.append(RowError(row_no, "channel", why))
        else:
            seen[row["member_id"]] = row_no
            plan[channel].append(member)
    if errors:
        raise RegisterImportError(errors)
    changed = unchanged = 0
    for channel, members in plan.items():
        more, same = _apply(session, members, channel, now)
        changed, unchanged = changed + more, unchanged + same
    return _finish(session, changed, unchanged, 0, now, by)


def set_channel_by_rule(
    session: Session, rule: str, channel: str, now: datetime, *, by: Actor
) -> ChannelChange:
    """Give ``channel`` to every member the rule selects; those it cannot reach are skipped
    and counted (a letter needs a postal address)."""
    if rule != RULE_NO_EMAIL:
        raise RegisterError.coded("unknown_rule", rule=rule[:40])
    if channel not in set(Channel):
        raise RegisterError.coded("unknown_channel", channel=channel[:20])
    selected = session.scalars(
        select(Member).where(or_(Member.email.is_(None), Member.email_bounced_at.is_not(None)))
    ).all()
    reachable = [m for m in selected if _unreachable_by(m, channel) is None]
    changed, unchanged = _apply(session, reachable, channel, now)
    return _finish(session, changed, unchanged, len(selected) - len(reachable), now, by)
