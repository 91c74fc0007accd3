"""Publishing the candidate lists: the guard, the warnings, and the one-way step itself.

Publication freezes each krets's list, makes its contest's blind-signature key and logs the
hashes of both (``candidates.published``). It is blocked while the nomination period is open,
when already published, and while any accepted nomination awaits review; a krets with no vote
needs the committee's explicit confirmation (docs/tally.md).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from auditlog.events import CANDIDATES_PUBLISHED
from ballots.rules import holds_vote
from voting.ballot.keys import generate_contest_keys
from voting.db import lock_row
from voting.elections.models import Contest, Election
from voting.errors import Blocker, NoVoteNotConfirmed, TransitionBlocked
from voting.log.checkpoints import checkpoint_now
from voting.log.services import append
from voting.nominations.models import NominationStatus
from voting.nominations.review import actor, candidate_list, list_hash, status_counts
from voting.staff.models import User
from voting.words import PLAIN, Words


def publication_blockers(session: Session, election: Election, now: datetime) -> list[Blocker]:
    """What stops publication of the candidate lists now; empty when it may go ahead."""
    blockers = []
    if election.candidates_published_at is not None:
        blockers.append(
            Blocker(
                "candidates_already_published",
                {"time": _fmt(election, election.candidates_published_at)},
            )
        )
    if now <= election.nomination_closes:
        blockers.append(
            Blocker("nomination_not_closed", {"time": _fmt(election, election.nomination_closes)})
        )
    counts = status_counts(session, election)
    for contest in election.contests:
        waiting = counts.get(contest.krets_code, Counter()).get(NominationStatus.AWAITING_REVIEW, 0)
        if waiting:
            blockers.append(Blocker("awaiting_review", {"krets": _krets(contest), "num": waiting}))
    return blockers


def _krets(contest: Contest) -> str:
    return f"{contest.krets.name} ({contest.krets_code})"


def contests_without_vote(session: Session, election: Election) -> list[tuple[Contest, int]]:
    """The contests whose list has no more candidates than seats, with the number of candidates.

    No vote is held there: every candidate is elected without one and the other seats stay
    empty (docs/tally.md). Before publication the lists are the approved nominations.
    """
    return [
        (contest, n)
        for contest in election.contests
        if not holds_vote(contest.seats, n := len(candidate_list(session, contest)))
    ]


def no_vote_line(contest: Contest, candidates: int, words: Words = PLAIN) -> str:
    """One line on a krets without a vote, for the publish page and the CLI."""
    seats = words.ngettext("%(num)s plats", "%(num)s platser", contest.seats)
    if candidates == 0:
        return words.gettext(
            "%(krets)s: inga godkända kandidater för %(seats)s, ingen omröstning; "
            "platserna står tomma.",
            krets=_krets(contest),
            seats=seats,
        )
    return words.ngettext(
        "%(krets)s: %(num)s godkänd kandidat för %(seats)s, ingen omröstning; "
        "kandidaten väljs utan omröstning.",
        "%(krets)s: %(num)s godkända kandidater för %(seats)s, ingen omröstning; "
        "kandidaterna väljs utan omröstning.",
        candidates,
        krets=_krets(contest),
        seats=seats,
    )


def publication_warnings(session: Session, election: Election, words: Words = PLAIN) -> list[str]:
    """What the committee should know before publishing, without being stopped by it.

    Kretsar without a vote are not here: ``contests_without_vote`` lists them, and publishing
    needs its own confirmation for them.
    """
    warnings = []
    counts = status_counts(session, election)
    unanswered = sum(c.get(NominationStatus.AWAITING_NOMINEE, 0) for c in counts.values())
    if unanswered:
        warnings.append(
            words.ngettext(
                "%(num)s nominerad har inte svarat och kommer inte med på listorna.",
                "%(num)s nominerade har inte svarat och kommer inte med på listorna.",
                unanswered,
            )
        )
    return warnings


def _fmt(election: Election, moment: datetime) -> str:
    return election.local(moment).strftime("%Y-%m-%d %H:%M") + f" ({election.timezone})"


def publish_candidates(
    session: Session,
    election: Election,
    now: datetime,
    user: User | None = None,
    key_bits: int = 3072,
    *,
    confirm_no_vote: bool = False,
) -> list[dict[str, Any]]:
    """Freeze the candidate lists, create each contest's RSA key, and log hashes of both.

    A krets with no more candidates than seats holds no vote; publishing such lists needs
    ``confirm_no_vote``, so that the committee has seen them (TransitionBlocked otherwise).
    """
    # Why lock and re-check here: two committee members pressing "publish" at once, or a
    # review racing the publication, must not produce two events or a list that changed.
    lock_row(session, Election, election.id)
    blockers = publication_blockers(session, election, now)
    if blockers:
        raise TransitionBlocked(blockers)
    without_vote = contests_without_vote(session, election)
    if without_vote and not confirm_no_vote:
        raise NoVoteNotConfirmed([no_vote_line(c, n) for c, n in without_vote])
    keys = {key.contest_id: key for key in generate_contest_keys(session, election, now, key_bits)}
    published = []
    for contest in election.contests:
        candidates = candidate_list(session, contest)
        contest.list_hash = list_hash(candidates)
        rule = contest.rule(len(candidates))
        published.append(
            {
                "contest": str(contest.id),
                "krets": contest.krets_code,
                "candidates": [str(n.id) for n in candidates],
                "list_hash": contest.list_hash,
                # The contest key is bound to the log here, before anyone can be signed for.
                "key_sha256": hashlib.sha256(keys[contest.id].public_key_der).hexdigest(),
                # The selection rule too, exactly as the manifest states it: a server that later
                # lowered min_selections or raised max_selections would contradict the log.
                "seats": rule.seats,
                "min_selections": rule.min_selections,
                "max_selections": rule.max_selections,
                "substitutes": rule.substitutes,
            }
        )
    election.candidates_published_at = now
    # Ids and hashes only: anyone holding the public lists can recompute the hashes.
    append(
        session,
        election.slug,
        CANDIDATES_PUBLISHED,
        {"contests": published, "by": actor(user)},
        now,
    )
    session.flush()
    checkpoint_now(session, election.slug, now, CANDIDATES_PUBLISHED)
    return published
