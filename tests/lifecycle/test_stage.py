"""stage(): the clock and the write-once rows give one answer, and it never goes back."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ballot.conftest import AFTER, BEFORE, DURING, setup_voting
from voting.db import db
from voting.elections.services import create_election, get_election
from voting.lifecycle import Stage, stage
from voting.lifecycle.results import publish_results
from voting.lifecycle.seal import seal_blockers, seal_board
from voting.lifecycle.tally import tally

ELECTION = """
slug = "tidig"
title = "Ett val som inte har börjat"
[schedule]
nomination_opens = "2030-10-01T00:00"
nomination_closes = "2030-11-30T23:59:59"
voting_opens = "2031-01-12T00:00"
voting_closes = "2031-01-25T23:59:59"
[[krets]]
code = "NORR"
name = "Norr"
seats = 1
"""


def test_the_clock_alone_before_anything_is_written(db_session, clock):
    election = create_election(db_session, ELECTION, clock(), by="cli")
    at = {
        election.nomination_opens - timedelta(seconds=1): Stage.BEFORE_NOMINATION,
        election.nomination_opens: Stage.NOMINATION,
        election.nomination_closes: Stage.NOMINATION,  # the close is inclusive
        election.nomination_closes + timedelta(seconds=1): Stage.REVIEW,
        # Voting opened by the clock with nothing published: the clock still says voting.
        election.voting_opens: Stage.VOTING,
        election.voting_closes + timedelta(seconds=1): Stage.CLOSED,
    }
    assert {now: stage(db_session, election, now) for now in at} == at


def test_an_election_walks_every_stage_from_its_rows(app, clock, rsa_keys, smtp):
    setup_voting(app, clock, rsa_keys, "http://localhost")
    seen = []
    with db.transaction() as s:
        election = get_election(s, "val-2027")
        # setup_voting published the lists and froze the roll before voting opened.
        seen.append(stage(s, election, BEFORE))
        seen.append(stage(s, election, DURING))
        seen.append(stage(s, election, AFTER))
        assert seal_blockers(s, election, DURING)[0].code == "voting_not_closed"
        assert seal_blockers(s, election, AFTER) == []
        seal_board(s, election, AFTER, by="cli")
        seen.append(stage(s, election, AFTER))
        assert seal_blockers(s, election, AFTER)[0].code == "board_already_sealed"
        tally(s, election, "en kula", AFTER, by="cli")
        seen.append(stage(s, election, AFTER))
        publish_results(s, election, AFTER, by="cli")
        seen.append(stage(s, election, AFTER))
        # The rows outrank the clock: a counted election reads counted at any time.
        assert stage(s, election, DURING) is Stage.RESULTS_PUBLISHED
    assert seen == [
        Stage.ROLL_FROZEN,
        Stage.VOTING,
        Stage.CLOSED,
        Stage.SEALED,
        Stage.COUNTED,
        Stage.RESULTS_PUBLISHED,
    ]


def test_reached_follows_the_order_of_the_stages():
    order = list(Stage)
    for i, earlier in enumerate(order):
        for later in order[i:]:
            assert later.reached(earlier)
        for before in order[:i]:
            assert not before.reached(earlier)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=-400, max_value=400), min_size=2, max_size=6))
def test_the_stage_never_goes_back_as_time_goes_on(db_session, clock, days):
    election = get_election(db_session, "tidig") if _exists(db_session) else None
    if election is None:
        election = create_election(db_session, ELECTION, clock(), by="cli")
    times = sorted(election.nomination_opens + timedelta(days=d) for d in days)
    stages = [stage(db_session, election, t) for t in times]
    assert all(b.reached(a) for a, b in zip(stages, stages[1:], strict=False))


def _exists(session) -> bool:
    from voting.elections.errors import ElectionNotFound

    try:
        get_election(session, "tidig")
    except ElectionNotFound:
        return False
    return True
