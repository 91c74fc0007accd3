"""Who the voter is: the one identity that both the emailed link and Swedish eID produce.

The blind-sign path and the voter's pages need only *which member, in which election*; how the
member proved it (the link, eID, or both, as the election's ``sign_in`` demands) is decided here
once, so that the signing rules cannot differ between the credentials.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from voting.ballot.errors import EidRequired
from voting.ballot.links import authenticate
from voting.ballot.models import VoterLink
from voting.ballot.services import LINK_GRACE
from voting.crypto import token_hash
from voting.elections.models import Election

# The session keys. VOTER_KEY holds the id of the link the browser opened (as before eID);
# EID_KEY the member whom eID identified, in which election, and when.
VOTER_KEY = "voter_link"
EID_KEY = "voter_eid"
# How long an eID sign-in lets the voter sign: about as long as a vote takes, with room.
EID_SESSION = timedelta(hours=1)


@dataclass(frozen=True)
class Voter:
    """A member entitled to ask for their blind signature in one election."""

    member_id: str
    election_id: int
    link_id: int | None = None  # the emailed link, where one was used

    @property
    def limit_key(self) -> str:
        """What the blind-sign rate limit counts by (hashed by the caller).

        The link where one was used, exactly as before eID, so that bearer and cookie share one
        budget; else the member in the election.
        """
        if self.link_id is not None:
            return f"link:{self.link_id}"
        return f"eid:{self.election_id}:{self.member_id}"


@dataclass(frozen=True)
class Pending:
    """A browser that opened its link in a ``link+eid`` election but has not used eID yet."""

    link: VoterLink
    election: Election


def remember_eid(
    cookie: MutableMapping[str, Any], election_id: int, member_id: str, now: datetime
) -> None:
    """Put the member whom eID identified into the voter's session, keeping an opened link."""
    cookie[EID_KEY] = {"election": election_id, "member": member_id, "at": now.isoformat()}


def start_voter_session(cookie: MutableMapping[str, Any]) -> None:
    """A fresh session for a voter: nothing from before carries over but the language."""
    lang = cookie.get("lang")
    cookie.clear()
    if lang is not None:
        cookie["lang"] = lang


def _eid_member(cookie: Mapping[str, Any], election_id: int, now: datetime) -> str | None:
    """The member eID identified in this session for ``election_id``, if recent enough."""
    value = cookie.get(EID_KEY)
    if not isinstance(value, dict) or value.get("election") != election_id:
        return None
    member, at = value.get("member"), value.get("at")
    if not isinstance(member, str) or not isinstance(at, str):
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    # Why real time and a limit: the cookie is signed, not revocable; a forgotten browser must
    # not stay signed in as the member for the rest of the election.
    if moment.tzinfo is None or not (now - EID_SESSION < moment <= now + timedelta(minutes=1)):
        return None
    return member


def session_link(db: Session, cookie: Mapping[str, Any]) -> VoterLink | None:
    """The live link this browser opened, if any."""
    link_id = cookie.get(VOTER_KEY)
    link = db.get(VoterLink, link_id) if isinstance(link_id, int) else None
    if link is None or link.revoked_at is not None:
        return None
    return link


def eid_election(cookie: Mapping[str, Any]) -> int | None:
    """The election an eID sign-in in this session was for, if any."""
    value = cookie.get(EID_KEY)
    election = value.get("election") if isinstance(value, dict) else None
    return election if isinstance(election, int) else None


def session_voter(db: Session, cookie: Mapping[str, Any], now: datetime) -> Voter | Pending | None:
    """The voter of this browser session as the election's sign-in mode demands.

    ``link``: the opened link. ``link+eid``: the opened link and an eID sign-in of the same
    member; the link alone is Pending. ``eid``: an eID sign-in alone (an opened link counts for
    nothing).
    """
    link = session_link(db, cookie)
    if link is not None:
        election = db.get_one(Election, link.election_id)
        if election.sign_in == "link":
            return Voter(link.member_id, link.election_id, link.id)
        if election.sign_in == "link+eid":
            member = _eid_member(cookie, election.id, now)
            if member == link.member_id:
                return Voter(link.member_id, link.election_id, link.id)
            return Pending(link, election)
    election_id = eid_election(cookie)
    if election_id is None:
        return None
    signed_in_to = db.get(Election, election_id)
    if signed_in_to is None or signed_in_to.sign_in != "eid":
        return None
    member = _eid_member(cookie, election_id, now)
    return Voter(member, election_id) if member is not None else None


LinkProblem = Literal["unknown", "replaced", "expired"]


def link_problem(db: Session, token: str, now: datetime) -> tuple[LinkProblem, Election | None]:
    """Why ``authenticate`` refused ``token``, in the member's terms, and the link's election.

    The same tests as ``authenticate``, in its order, so that the page names the reason the
    link was refused: unknown (mistyped, cut short), replaced (revoked by a newer link) or
    expired (past the close and its grace time).
    """
    link = db.scalar(select(VoterLink).where(VoterLink.token_hash == token_hash(token)))
    if link is None:
        return "unknown", None
    election = db.get(Election, link.election_id)
    if link.revoked_at is not None:
        return "replaced", election
    if election is not None and now > election.voting_closes + LINK_GRACE:
        return "expired", election
    return "unknown", election


def bearer_voter(db: Session, token: str, now: datetime) -> Voter:
    """The voter behind a bearer link token; refused where the election demands eID."""
    link = authenticate(db, token, now)
    election = db.get_one(Election, link.election_id)
    if election.sign_in != "link":
        # Why: the token alone is exactly what the link+eid mode must not accept, and in eid
        # mode no link is a credential at all.
        raise EidRequired(
            "this election needs Swedish eID sign-in in the browser; a link alone is not enough"
        )
    return Voter(link.member_id, link.election_id, link.id)


__all__ = [
    "EID_KEY",
    "VOTER_KEY",
    "Pending",
    "Voter",
    "bearer_voter",
    "link_problem",
    "remember_eid",
    "session_link",
    "session_voter",
    "start_voter_session",
]
