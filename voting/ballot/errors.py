"""Errors of the voter's side. Each carries the HTTP status and the API error code."""

from __future__ import annotations

from voting.errors import VotingError


class Unauthenticated(VotingError):
    status, code = 401, "unauthenticated"


class EidRequired(Unauthenticated):
    """The election's sign-in mode needs Swedish eID, which a link or bearer token is not."""

    code = "eid_required"


class WindowClosed(VotingError):
    status, code = 403, "window_closed"


class WrongKrets(VotingError):
    status, code = 403, "wrong_krets"


class NotOnRoll(VotingError):
    status, code = 403, "not_on_roll"


class NoVote(VotingError):
    """The contest has no more candidates than seats: they are elected without a vote."""

    status, code = 409, "no_vote"


class UnknownContest(VotingError):
    status, code = 404, "unknown_contest"


class AlreadySigned(VotingError):
    status, code = 409, "already_signed"


class DuplicateBallot(VotingError):
    status, code = 409, "duplicate_ballot"
