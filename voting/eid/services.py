"""Who an eID identifies: a member of the register (voters) or a staff account.

The personnummer from the provider is parsed as the register parses it (coordination numbers
included) and found through the keyed look-up hash; it is never stored, logged or decrypted
here. Services take a Session and a clock and never commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from voting.ballot.errors import NotOnRoll
from voting.ballot.models import VoterLink
from voting.ballot.services import contest_holds_vote, member_contest
from voting.crypto import keyed_hash
from voting.eid.errors import EidTaken, Refused, SignInFailed
from voting.elections.models import SIGN_IN_LINK_EID, Contest, Election
from voting.log.services import REGISTER_LOG, append
from voting.members.errors import PersonnummerError
from voting.members.models import Member
from voting.members.pnr import parse_personnummer
from voting.members.services import find_member_by_personnummer
from voting.staff.models import StaffEid, User

STAFF_PURPOSE = "staff-eid"
CLI = "cli"


def canonical_pnr(value: str, today: datetime) -> str:
    """The claim as the register's 12-digit form; SignInFailed("claim") if it is none."""
    try:
        return parse_personnummer(value, today)
    except PersonnummerError as exc:
        raise SignInFailed("claim", "the personnummer claim is malformed") from exc


def check_window(election: Election, now: datetime) -> None:
    """Refused("window_closed") unless voting is open."""
    if not election.voting_open(now):
        raise Refused("window_closed")


def identify_voter(
    session: Session,
    election: Election,
    claim: str,
    now: datetime,
    link: VoterLink | None = None,
) -> Member:
    """The member whom the eID names, checked against the election as the blind signature is.

    In ``link+eid`` the member must be the one of the opened ``link``. Refusals, in order:
    window_closed, no_match, mismatch, not_on_roll, no_vote.
    """
    check_window(election, now)
    if election.sign_in == SIGN_IN_LINK_EID and (link is None or link.election_id != election.id):
        raise SignInFailed("flow", "the voting link is no longer open in this browser")
    canonical_pnr(claim, now)  # a malformed claim is a failure of the provider, not "no match"
    try:
        member = find_member_by_personnummer(session, claim, now.date())
    except PersonnummerError as exc:  # pragma: no cover - canonical_pnr has refused it
        raise SignInFailed("claim") from exc
    # Why the same refusal when the eID matches nobody: the link's member is known, and whoever
    # holds the link must not learn whether another personnummer is a member.
    if link is not None and (member is None or member.member_id != link.member_id):
        raise Refused("mismatch")
    if member is None:
        raise Refused("no_match")
    try:
        contest_id = member_contest(session, election, member.member_id)
    except NotOnRoll as exc:
        raise Refused("not_on_roll") from exc
    if not contest_holds_vote(session, session.get_one(Contest, contest_id)):
        raise Refused("no_vote")
    return member


# --- Staff ------------------------------------------------------------------------------------


def staff_lookup(canonical: str) -> str:
    """The keyed hash a staff account's eID is stored and found by."""
    return keyed_hash(canonical, STAFF_PURPOSE)


def identify_staff(session: Session, claim: str, now: datetime) -> User:
    """The enabled staff account mapped to this eID; Refused("staff_unknown") otherwise."""
    lookup = staff_lookup(canonical_pnr(claim, now))
    user = session.scalar(
        select(User)
        .join(StaffEid, StaffEid.user_id == User.id)
        .where(StaffEid.pnr_lookup == lookup)
    )
    if user is None or user.disabled_at is not None:
        raise Refused("staff_unknown")
    return user


def record_staff_login(session: Session, user: User, now: datetime) -> None:
    """Count an eID login as the password login does: last login, failures cleared, logged."""
    user.last_login_at = now
    user.failed_logins = 0
    user.login_delay_until = None
    append(session, REGISTER_LOG, "staff.login", {"user": user.id}, now)


def set_staff_eid(session: Session, user: User, personnummer: str, now: datetime) -> None:
    """Map an eID (by personnummer) to ``user``, replacing any earlier one; logged without it."""
    lookup = staff_lookup(parse_personnummer(personnummer, now))
    other = session.scalar(select(StaffEid).where(StaffEid.pnr_lookup == lookup))
    if other is not None and other.user_id != user.id:
        raise EidTaken()
    row = session.get(StaffEid, user.id)
    if row is None:
        session.add(StaffEid(user_id=user.id, pnr_lookup=lookup, created_at=now))
    else:
        row.pnr_lookup, row.created_at = lookup, now
    session.flush()
    append(session, REGISTER_LOG, "staff.eid_set", {"user": user.id, "by": CLI}, now)


def remove_staff_eid(session: Session, user: User, now: datetime) -> bool:
    """Unmap the account's eID; returns whether it had one."""
    row = session.get(StaffEid, user.id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    append(session, REGISTER_LOG, "staff.eid_removed", {"user": user.id, "by": CLI}, now)
    return True
