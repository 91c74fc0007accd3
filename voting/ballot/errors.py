"""Errors of the voter's side. Each carries the HTTP status and the API error code."""

from __future__ import annotations


class VotingError(Exception):
    """Base: ``code`` names the error in the API, the message explains it."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


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


class TransitionBlocked(VotingError):
    """A phase transition's guard found blockers; the message lists them."""

    status, code = 409, "blocked"

    def __init__(self, blockers: list[str]) -> None:
        super().__init__("; ".join(blockers))
        self.blockers = blockers
