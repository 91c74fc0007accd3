"""What every feature's views share: the view return type, the election named in the URL, and
the one place where an error's code becomes the sentence a page shows (``say`` for the
features' catalogs, ``blocker_label`` and ``error_reason`` for the stage changes and voting)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from voting.db import db
from voting.elections.errors import ElectionNotFound
from voting.elections.models import Election
from voting.elections.services import get_election
from voting.errors import Blocker, Coded, TransitionBlocked, VotingError

View = str | Response | tuple[str, int]


def election_or_404(slug: str) -> Election:
    """The election with this slug, or a 404 page."""
    try:
        return get_election(db.session, slug)
    except ElectionNotFound:
        abort(404)


def say(error: Coded) -> str:
    """A service error (or an import's row error) in the reader's language: its code's catalog
    text translated, with its params (those in ``word_params`` translated too); an error
    without a catalog text as it is."""
    text = error.messages.get(error.code or "")
    if text is None:
        return error.message
    params = {
        k: gettext(v) if k in error.word_params and isinstance(v, str) else v
        for k, v in error.params.items()
    }
    return str(gettext(text, **params))


def _n(singular: str, plural: str) -> tuple[str, str]:
    """A singular and plural msgid, marked for extraction; ``blocker_label`` picks one."""
    return singular, plural


# Each blocker code as the page says it (voting.errors.PLAIN is the command line's text).
# A pair is singular and plural, chosen by the blocker's ``num``.
BLOCKER_LABELS: dict[str, Any] = {
    "candidates_already_published": _l("Kandidatlistorna publicerades redan %(time)s."),
    "nomination_not_closed": _l("Nomineringsperioden har inte stängt (den stänger %(time)s)."),
    "awaiting_review": _n(
        "%(krets)s: %(num)s nominering väntar på granskning.",
        "%(krets)s: %(num)s nomineringar väntar på granskning.",
    ),
    "no_vote_unconfirmed": _l("kretsar utan omröstning är inte bekräftade: %(lines)s"),
    "candidates_not_published": _l("kandidatlistorna är inte publicerade"),
    "roll_already_frozen": _l("röstlängden är redan fryst"),
    "roll_not_frozen": _l("röstlängden är inte fryst"),
    "roll_not_frozen_yet": _l("röstlängden är inte fryst än; medlemmen kommer med när den fryses"),
    "voting_not_open": _l("röstningen pågår inte"),
    "voting_closed": _l("röstningen har stängt"),
    "voting_not_closed": _l("röstningen har inte stängt än"),
    "board_already_sealed": _l("anslagstavlan är redan förseglad"),
    "board_not_sealed": _l("anslagstavlan är inte förseglad än"),
    "contest_not_sealed": _l("omröstning %(contest)s saknas i förseglingen"),
    "board_inconsistent": _l("anslagstavlan stämmer inte med förseglingen: %(problem)s"),
    "already_counted": _l("valet är redan räknat"),
    "seed_missing": _l("ange lottningsfröet som valberedningen drog vid rösträkningen"),
    "seed_invalid": _l("lottningsfröet får ha högst %(max)s tecken och inga styrtecken"),
    "not_counted": _l("valet är inte räknat än"),
    "results_already_published": _l("resultatet är redan publicerat"),
    "link_move_too_late": _l(
        "röstlänkar flyttas inte till en ny adress de sista %(hours)s timmarna före stängningen"
    ),
    "letter_move_too_late": _l(
        "brev flyttas inte till en ny adress de sista %(hours)s timmarna före stängningen"
    ),
}

# The voting errors that are not blockers, by code, as the committee's pages say them.
VOTING_ERROR_LABELS = {
    "already_on_roll": _l("medlemmen finns redan i röstlängden"),
    "not_on_roll": _l("medlemmen finns inte i röstlängden"),
    "no_email": _l("medlemmen har ingen e-postadress i registret"),
    "voted": _l("medlemmen har redan röstat, så ingen ny röstlänk skickades"),
}


def blocker_label(blocker: Blocker) -> str:
    """One blocker in the reader's language."""
    label = BLOCKER_LABELS[blocker.code]
    if isinstance(label, tuple):
        num = blocker.params["num"]
        assert isinstance(num, int)  # noqa: S101 - a plural blocker always counts something
        rest = {k: v for k, v in blocker.params.items() if k != "num"}
        return str(ngettext(label[0], label[1], num, **rest))
    return str(label % dict(blocker.params)) if blocker.params else str(label)


def error_reason(exc: VotingError, labels: Mapping[str, object] = VOTING_ERROR_LABELS) -> str:
    """Why a voting action failed, in the reader's language: every blocker of a
    TransitionBlocked, else the error's code through ``labels`` (its message if unknown)."""
    if isinstance(exc, TransitionBlocked):
        return "; ".join(blocker_label(b) for b in exc.blockers)
    return str(labels.get(exc.code or "", exc.message))
