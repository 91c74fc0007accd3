"""Errors of the staff and committee-review features; each message is meant for the user."""

from __future__ import annotations


class AdminError(Exception):
    """Base of the admin errors; ``field`` names the input at fault, if any.

    ``code`` is a stable name for what went wrong and ``params`` its data, for callers that
    make their own message rather than show ``message``.
    """

    status = 400

    def __init__(
        self,
        message: str,
        field: str | None = None,
        code: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.params = params or {}


class AccountError(AdminError):
    """A staff account cannot be created: bad email, unknown role, weak password, duplicate."""


class WeakPassword(AccountError):
    """A password the policy refuses; ``code`` says why (too_short, too_long, repetitive,
    common, guessable)."""


class AccountNotFound(AccountError):
    """No staff account has that email address."""


class LoginError(AdminError):
    """A login failed. The message is the same whatever part was wrong."""

    status = 400


class ReviewError(AdminError):
    """A review action does not fit the nomination's or the election's state."""

    status = 409


class NotFound(ReviewError):
    """No nomination or election with that id or slug."""

    status = 404


class CandidatesPublished(ReviewError):
    """The candidate lists are published and frozen; nothing on them may change."""


class PublicationBlocked(ReviewError):
    """The candidate lists cannot be published yet; ``blockers`` says why."""

    def __init__(self, blockers: list[str]) -> None:
        super().__init__("; ".join(blockers))
        self.blockers = blockers


class NoVoteNotConfirmed(PublicationBlocked):
    """Some kretsar would hold no vote and the committee has not confirmed them.

    ``without_vote`` holds one line per such krets.
    """

    def __init__(self, without_vote: list[str]) -> None:
        super().__init__(without_vote)
        self.without_vote = without_vote
