"""The recount the verifier compares the published results with: docs/tally.md's count of
the board's valid ballots and the record's paper ballots, with each contest's seal (board hash,
signatures, roll size, postal envelopes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from itertools import chain, repeat
from typing import Any

from auditlog.record import ElectionRecord, contests_in_order
from ballots.tally import count, lottery_key, turnout


def _each(counted: Counter[tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    """Every ballot's choices, as many times as they were cast (the count ignores order)."""
    return chain.from_iterable(repeat(choices, times) for choices, times in counted.items())


def recount_result(
    rec: ElectionRecord,
    sealed: dict[str, dict[str, Any]],
    choices: dict[str, Counter[tuple[str, ...]]],
) -> dict[str, Any]:
    """The result of docs/tally.md for the valid ballots; a contest without a vote has none."""
    contests = []
    for cid, contest in contests_in_order(rec):
        seal = sealed[cid]
        chosen = choices.get(cid, Counter())
        cast = sum(chosen.values())
        listed = rec.counts[cid]
        paper = [tuple(c) for c in listed["paper_ballots"]]
        voted = cast + len(paper) + len(listed["paper_invalid"])
        counted = count(
            chain(_each(chosen), paper),
            contest.candidate_ids,
            contest.rule.seats,
            contest.rule.substitutes,
            contest=cid,
            key=lottery_key(seal["board_hash"], rec.seed),
        )
        contests.append(
            {
                **counted,
                "krets": contest.krets,
                "board_hash": seal["board_hash"],
                "ballots_cast": cast,
                "signatures_issued": seal["signatures_issued"],
                "roll_size": seal["roll_size"],
                "turnout": turnout(voted, seal["roll_size"]),
            }
        )
        if seal["postal_envelopes"]:
            invalid = len(listed["paper_invalid"])
            contests[-1].update(paper_ballots=len(paper), paper_invalid=invalid)
    return {"version": 1, "election": rec.slug, "seed": rec.seed, "contests": contests}
