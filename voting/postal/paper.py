"""Paper ballots as the count, the record and the results take them: accepted batches only,
choices only, sorted, with no member, batch or order."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditlog.record import PAPER_INVALID_REASONS, paper_key
from voting.elections.models import Contest
from voting.postal.models import PostalBatch
from voting.postal.services import candidate_ids, paper_values


def _settled(session: Session, contest: Contest) -> tuple[list[list[str]], list[str]]:
    """The accepted paper ballots of a contest: the valid ones' choices, the invalid reasons."""
    accepted = session.scalars(
        select(PostalBatch.id).where(
            PostalBatch.contest_id == contest.id, PostalBatch.accepted_at.is_not(None)
        )
    ).all()
    ballots: list[list[str]] = []
    invalid: list[str] = []
    for value in paper_values(session, accepted):
        parsed = json.loads(value)
        if "choices" in parsed:
            ballots.append(parsed["choices"])
        else:
            invalid.append(parsed["invalid"])
    return sorted(ballots, key=paper_key), sorted(invalid)


def paper_record(session: Session, contest: Contest) -> dict[str, list[Any]]:
    """The record's paper ballots of a contest: choices only, sorted, and the invalid reasons."""
    ballots, invalid = _settled(session, contest)
    return {"paper_ballots": ballots, "paper_invalid": invalid}


def paper_for_count(
    session: Session, contest: Contest, sealed_envelopes: int
) -> tuple[list[tuple[str, ...]], list[str], list[str]]:
    """The paper ballots the count takes, checked again: (choices, invalid reasons, problems).

    Why blockers, not skips: a batch not yet accepted, or envelopes not yet opened, would
    otherwise leave paper votes out of the count without anyone noticing.
    """
    problems = []
    open_batches = session.scalars(
        select(PostalBatch.id).where(
            PostalBatch.contest_id == contest.id, PostalBatch.accepted_at.is_(None)
        )
    ).all()
    problems += [f"contest {contest.id}: postal batch {b} is not accepted" for b in open_batches]
    opened = (
        session.scalar(
            select(func.sum(PostalBatch.envelopes)).where(PostalBatch.contest_id == contest.id)
        )
        or 0
    )
    if opened < sealed_envelopes:
        problems.append(
            f"contest {contest.id}: {sealed_envelopes - opened} of the {sealed_envelopes} sealed "
            "postal envelopes are not opened in a batch (voting postal batch)"
        )
    ballots, invalid = _settled(session, contest)
    candidates = set(candidate_ids(session, contest))
    rule = contest.rule(len(candidates))
    # Why again: the count must not trust that the rows still hold what was entered.
    for choices in ballots:
        if (
            not set(choices) <= candidates
            or len(set(choices)) != len(choices)
            or not rule.allows(len(choices))
        ):
            problems.append(f"contest {contest.id}: a paper ballot breaks the rule: {choices}")
    problems += [
        f"contest {contest.id}: {reason!r} is not a reason a paper ballot is invalid"
        for reason in invalid
        if reason not in PAPER_INVALID_REASONS
    ]
    if len(ballots) + len(invalid) > sealed_envelopes:
        problems.append(
            f"contest {contest.id}: {len(ballots) + len(invalid)} paper ballots, more than the "
            f"{sealed_envelopes} sealed postal envelopes"
        )
    return [tuple(c) for c in ballots], invalid, problems


def paper_votes(session: Session, contest_id: int) -> Counter[str]:
    """Votes per candidate from the contest's accepted paper ballots (the results show them
    apart from the online votes)."""
    contest = session.get_one(Contest, contest_id)
    ballots, _invalid = _settled(session, contest)
    return Counter(c for choices in ballots for c in choices)
