"""The app's error bases, and the blockers that stop a stage change.

``AppError`` is the root of every error the app raises on purpose, with two kinds below it:
``ServiceError`` when the request or the election's state is at fault (the answer is a 4xx, or
a command's refusal), ``OperationalError`` when the system is (configuration, the mail server,
a backup, a lock: a 5xx, or a command's failure).

``ServiceError`` is the one base of the service errors that carry data: ``code``, a stable name
for what went wrong, ``params`` its data, and ``field`` the input at fault, if any. Features
subclass it (staff accounts, candidate review, the voter's side). ``VotingError`` adds the HTTP
status and API code the voter's API answers with.

A feature whose errors reach members in their language keeps a catalog, ``messages``: each code's
Swedish text, marked with ``N_`` for extraction. A service raises ``Error.coded(code, field=...,
**params)`` and never translates; ``voting.web.say`` gives the text in the reader's language, and
``message`` is the plain Swedish text the command line and the logs print (``field: text``).

A stage change's guard raises ``TransitionBlocked`` with every ``Blocker`` it found: a code and
its params, never prose. The web layer turns a code into a translated sentence
(``voting.web.blocker_label``); the command line and the logs use the plain text here, in the
language each command has always printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self


def N_(msgid: str) -> str:  # noqa: N802 - gettext's name for "mark only", which Babel extracts
    """Mark ``msgid`` for translation without translating it: it is translated where shown."""
    return msgid


def fill(text: str, params: Mapping[str, object]) -> str:
    """A catalog text with its params, formatted as gettext does (no params: as it is)."""
    return text % dict(params) if params else text


class Coded(Protocol):
    """What ``voting.web.say`` needs: a code of a catalog, its params and the plain message."""

    messages: ClassVar[Mapping[str, str]]
    word_params: ClassVar[tuple[str, ...]]

    @property
    def code(self) -> str | None: ...

    @property
    def params(self) -> Mapping[str, object]: ...

    @property
    def message(self) -> str: ...


class AppError(Exception):
    """The root of the errors the app raises on purpose."""


class OperationalError(AppError, RuntimeError):
    """The system, not the request, is at fault: configuration, mail delivery, backups, locks."""


class ServiceError(AppError):
    """Base: ``message`` for the user, ``field``, ``code`` and ``params`` for the caller."""

    status = 400
    # code -> Swedish text with %(name)s placeholders, for the errors made by ``coded``.
    messages: ClassVar[Mapping[str, str]] = {}
    # The params whose values are themselves catalog texts (a status name, say): translated too.
    word_params: ClassVar[tuple[str, ...]] = ()

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

    @classmethod
    def coded(cls, code: str, /, *, field: str | None = None, **params: object) -> Self:
        """The error ``code`` of this class's catalog; ``message`` is its plain Swedish text."""
        text = fill(cls.messages[code], params)
        return cls(f"{field}: {text}" if field else text, field=field, code=code, params=params)


class VotingError(ServiceError):
    """Base of the voting errors: ``code`` names the error in the API, the message explains it."""

    code: str | None = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code or type(self).code)


# The plain text of each blocker: the command line and the logs. ``num`` picks the plural.
PLAIN: dict[str, str | tuple[str, str]] = {
    "candidates_already_published": "Kandidatlistorna publicerades redan {time}.",
    "nomination_not_closed": "Nomineringsperioden har inte stängt (den stänger {time}).",
    "awaiting_review": (
        "{krets}: {num} nominering väntar på granskning.",
        "{krets}: {num} nomineringar väntar på granskning.",
    ),
    "no_vote_unconfirmed": "{lines}",
    "candidates_not_published": "the candidate lists are not published",
    "roll_already_frozen": "the roll is already frozen",
    "roll_not_frozen": "the roll is not frozen",
    "roll_not_frozen_yet": "the roll is not frozen yet; the member will be on it then",
    "voting_not_open": "voting is not open",
    "voting_closed": "voting has closed",
    "voting_not_closed": "voting has not closed",
    "board_already_sealed": "the board is already sealed",
    "board_not_sealed": "seal the board first (voting board seal {slug})",
    "contest_not_sealed": "contest {contest} is not in the board seal",
    "board_inconsistent": "{problem}",
    "already_counted": "the election is already counted",
    "seed_missing": "--seed: give the seed drawn at the counting meeting",
    "seed_invalid": "--seed: at most {max} characters, no control characters",
    "not_counted": "count the election first (voting tally {slug} --seed ...)",
    "results_already_published": "the results are already published",
    "link_move_too_late": (
        "links are not moved to a new address in the last {hours} hours before the close"
    ),
    "letter_move_too_late": (
        "letters are not moved to a new address in the last {hours} hours before the close"
    ),
}


@dataclass(frozen=True)
class Blocker:
    """One reason a stage change cannot happen now: a stable ``code`` and its ``params``."""

    code: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in PLAIN:
            raise ValueError(f"unknown blocker code {self.code!r}")

    def __str__(self) -> str:
        text = PLAIN[self.code]
        if isinstance(text, tuple):
            text = text[0] if self.params.get("num") == 1 else text[1]
        return text.format(**self.params)


class TransitionBlocked(VotingError):
    """A stage change's guard found blockers; ``blockers`` lists them all."""

    status, code = 409, "blocked"

    def __init__(self, blockers: Sequence[Blocker]) -> None:
        super().__init__("; ".join(str(b) for b in blockers))
        self.blockers = list(blockers)
        self.codes = [b.code for b in blockers]


class NoVoteNotConfirmed(TransitionBlocked):
    """Some kretsar would hold no vote and the committee has not confirmed them.

    ``without_vote`` holds one line per such krets.
    """

    def __init__(self, without_vote: list[str]) -> None:
        super().__init__([Blocker("no_vote_unconfirmed", {"lines": "; ".join(without_vote)})])
        self.without_vote = without_vote
