"""The verifier's check of postal ballots (docs/election-record.md, "paper ballots"): the
record's paper counts are the sealed ones, each paper ballot keeps its contest's rule, and there
are no more paper ballots, valid or not, than envelopes counted. Pure, like auditlog/verify.py,
which runs it with the other checks.
"""

from __future__ import annotations

from typing import Any

from auditlog.events import LogEvents
from auditlog.record import (
    PAPER_INVALID_REASONS,
    ElectionRecord,
    RecordContest,
    contests_in_order,
    paper_key,
)
from auditlog.report import Check, plural, summary

__all__ = ["check_paper", "paper_problems"]


def paper_problems(cid: str, contest: RecordContest, listed: dict[str, Any]) -> list[str]:
    """Each paper ballot valid under the contest's rule, the lists in order."""
    problems = []
    candidates = set(contest.candidate_ids)
    ballots = listed["paper_ballots"]
    for index, choices in enumerate(ballots):
        where = f"contest {cid}: paper ballot {index}"
        if choices != sorted(choices) or len(set(choices)) != len(choices):
            problems.append(f"{where}: its choices are not distinct and sorted")
        elif not set(choices) <= candidates:
            problems.append(f"{where}: marks a name that is not a candidate of the contest")
        elif not contest.rule.allows(len(choices)):
            problems.append(
                f"{where}: marks {plural(len(choices), 'name')}, which the rule "
                f"({contest.rule.min_selections}–{contest.rule.max_selections}) does not allow"
            )
    if [paper_key(c) for c in ballots] != sorted(paper_key(c) for c in ballots):
        problems.append(f"contest {cid}: paper_ballots are not sorted")
    invalid = listed["paper_invalid"]
    problems += [
        f"contest {cid}: {reason!r} is not a reason a paper ballot is invalid"
        for reason in dict.fromkeys(invalid)
        if reason not in PAPER_INVALID_REASONS
    ]
    if invalid != sorted(invalid):
        problems.append(f"contest {cid}: paper_invalid is not sorted")
    return problems


def check_paper(rec: ElectionRecord, events: LogEvents) -> Check:
    """Postal ballots: the counts are the sealed ones, each paper ballot keeps the rule, and
    there are no more paper ballots, valid or not, than envelopes counted."""
    sealed = events.sealed()
    problems = []
    total = 0
    for cid, contest in contests_in_order(rec):
        seal, listed = sealed.get(cid), rec.counts[cid]
        if seal is None:
            problems.append(f"contest {cid}: not in the board.sealed event")
            continue
        envelopes, aside = seal["postal_envelopes"], seal["postal_set_aside"]
        if (listed["postal_envelopes"], listed["postal_set_aside"]) != (envelopes, aside):
            problems.append(f"contest {cid}: the record's postal counts are not the sealed ones")
        problems += paper_problems(cid, contest, listed)
        paper = len(listed["paper_ballots"]) + len(listed["paper_invalid"])
        total += paper
        if paper > envelopes:
            problems.append(
                f"contest {cid}: {plural(paper, 'paper ballot')} (valid and invalid), more than "
                f"the {plural(envelopes, 'postal envelope')} counted"
            )
        if not contest.holds_vote and (envelopes or paper):
            problems.append(f"contest {cid} holds no vote, but has postal envelopes or ballots")
    return summary(
        "paper ballots",
        problems,
        f"{plural(total, 'paper ballot')}, each valid under its rule or listed invalid with its "
        "reason, no more than the envelopes counted",
    )
