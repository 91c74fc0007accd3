"""The pure count: votes, elected, ersättare, and the reproducible lot."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballots.tally import TallyError, count, lottery_key, result_bytes, ticket, turnout

BOARD = "ab" * 32
KEY = lottery_key(BOARD, "röd kula 17")
CANDS = ["1", "2", "3", "4", "5", "6"]


def run(ballots, seats=2, substitutes=2, candidates=CANDS, key=KEY):
    return count(ballots, candidates, seats, substitutes, contest="7", key=key)


def test_lottery_key_and_ticket_are_the_documented_hashes():
    data = b"kongressval-lottery-v1\x00" + BOARD.encode() + b"\x00" + "röd kula 17".encode()
    assert hashlib.sha256(data).hexdigest() == KEY
    assert ticket(KEY, "7", "3") == hashlib.sha256(KEY.encode() + b"\x007\x003").hexdigest()


def test_simple_count():
    result = run([["1", "2"], ["1", "3"], ["1", "2"], ["4", "5"], ["2", "6"]])
    assert result["votes"] == {"1": 3, "2": 3, "3": 1, "4": 1, "5": 1, "6": 1}
    assert result["ballots_counted"] == 5
    assert set(result["elected"]) == {"1", "2"}
    assert len(result["ersattare"]) == 2
    assert set(result["ersattare"]) <= {"3", "4", "5", "6"}
    # 1 and 2 tie for two seats: no lot needed there; 3..6 tie across 2 ersättare places.
    assert [t["votes"] for t in result["ties"]] == [1]
    assert len(result["ties"][0]["order"]) == 4


def test_clear_result_has_no_ties():
    result = run([["1", "2"], ["1", "2"], ["1", "3"], ["3", "4"], ["1", "5"]], substitutes=2)
    assert result["votes"] == {"1": 4, "2": 2, "3": 2, "4": 1, "5": 1, "6": 0}
    assert result["elected"][0] == "1"
    # 2 and 3 tie on the elected/ersättare boundary: decided by lot.
    assert result["ties"][0]["votes"] == 2
    order = [e["candidate"] for e in result["ties"][0]["order"]]
    assert sorted(order) == ["2", "3"]
    assert result["elected"] == ["1", order[0]]
    assert result["ersattare"][0] == order[1]
    places = [e["place"] for e in result["ties"][0]["order"]]
    assert places == ["elected", "ersattare 1"]


def test_no_tie_at_all():
    ballots = [["1"]] * 6 + [["2"]] * 5 + [["3"]] * 4 + [["4"]] * 3 + [["5"]] * 2 + [["6"]]
    result = run(ballots, seats=1, substitutes=2, candidates=CANDS)
    assert result["elected"] == ["1"]
    assert result["ersattare"] == ["2", "3"]
    assert result["ranking"] == CANDS
    assert result["ties"] == []


def test_tie_inside_the_elected_does_not_matter():
    result = run([["1", "2"], ["1", "2"], ["3", "4"]], seats=2, substitutes=0)
    assert set(result["elected"]) == {"1", "2"}
    assert result["ersattare"] == []
    # 1 and 2 are elected whatever the lot; 3, 4 (1 vote) and 5, 6 (0) all get no place.
    assert result["ties"] == []


def test_tie_between_ersattare_ranks_matters():
    ballots = [["1"]] * 3 + [["2"]] * 2 + [["3"]] * 2
    result = run(ballots, seats=1, substitutes=2)
    assert result["elected"] == ["1"]
    assert set(result["ersattare"]) == {"2", "3"}
    (tie,) = [t for t in result["ties"] if t["votes"] == 2]
    assert [e["place"] for e in tie["order"]] == ["ersattare 1", "ersattare 2"]
    assert [e["candidate"] for e in tie["order"]] == result["ersattare"]
    tickets = [e["ticket"] for e in tie["order"]]
    assert tickets == sorted(tickets)


def test_tie_for_the_last_ersattare_place():
    ballots = [["1"]] * 3 + [["2"]] * 2 + [["3"]] + [["4"]] + [["5"]]
    result = run(ballots, seats=1, substitutes=2)
    assert result["ersattare"][0] == "2"
    (tie,) = result["ties"]
    assert tie["votes"] == 1
    assert [e["place"] for e in tie["order"]] == ["ersattare 2", "none", "none"]
    assert result["ersattare"][1] == tie["order"][0]["candidate"]


def test_tie_for_the_last_seat_without_substitutes():
    result = run([["1"], ["2"], ["3"]], seats=2, substitutes=0, candidates=["1", "2", "3"])
    (tie,) = result["ties"]
    assert [e["place"] for e in tie["order"]] == ["elected", "elected", "none"]
    assert result["elected"] == [e["candidate"] for e in tie["order"][:2]]


def test_every_candidate_appears_and_zero_votes_rank_last():
    result = run([], seats=1, substitutes=1, candidates=["1", "2"])
    assert result["votes"] == {"1": 0, "2": 0}
    assert result["ballots_counted"] == 0
    assert len(result["ties"]) == 1


def test_fewer_candidates_than_places():
    result = run([["1"]], seats=2, substitutes=2, candidates=["1"])
    assert result["elected"] == ["1"]
    assert result["ersattare"] == []


@pytest.mark.parametrize(
    ("ballots", "message"),
    [
        ([["9"]], "not a candidate"),
        ([["1", "1"]], "marked twice"),
        (["12"], "not a string"),
    ],
)
def test_bad_ballots_are_refused(ballots, message):
    with pytest.raises(TallyError, match=message):
        run(ballots)


def test_bad_inputs_are_refused():
    with pytest.raises(TallyError, match="seats"):
        run([], seats=0)
    with pytest.raises(TallyError, match="substitutes"):
        run([], substitutes=-1)
    with pytest.raises(TallyError, match="listed twice"):
        run([], candidates=["1", "1"])
    with pytest.raises(TallyError, match="board_hash"):
        lottery_key("AB" * 32, "x")
    with pytest.raises(TallyError, match="seed"):
        lottery_key(BOARD, "")
    with pytest.raises(TallyError, match="NUL"):
        lottery_key(BOARD, "a\x00b")


@pytest.mark.parametrize(
    ("ballots", "roll", "expected"),
    [
        (0, 0, "0.0"),
        (42, 100, "42.0"),
        (1, 3, "33.3"),
        (2, 3, "66.7"),
        (1, 8, "12.5"),
        (3, 3, "100.0"),
    ],
)
def test_turnout(ballots, roll, expected):
    assert turnout(ballots, roll) == expected


ballot_lists = st.lists(
    st.lists(st.sampled_from(CANDS), min_size=1, max_size=3, unique=True), max_size=30
)
shape = st.tuples(st.integers(1, 4), st.integers(0, 3))


@given(ballot_lists, st.randoms(use_true_random=False), shape)
@settings(max_examples=150)
def test_result_does_not_depend_on_ballot_order(ballots, rnd, sizes):
    shuffled = list(ballots)
    rnd.shuffle(shuffled)
    seats, subs = sizes
    assert result_bytes(run(ballots, seats, subs)) == result_bytes(run(shuffled, seats, subs))


@given(ballot_lists, shape)
@settings(max_examples=150)
def test_elected_and_ersattare_are_disjoint_and_ordered_by_votes(ballots, sizes):
    seats, subs = sizes
    result = run(ballots, seats, subs)
    placed = result["elected"] + result["ersattare"]
    assert len(set(placed)) == len(placed)
    assert len(result["elected"]) == min(seats, len(CANDS))
    assert len(result["ersattare"]) == min(subs, len(CANDS) - len(result["elected"]))
    counts = [result["votes"][c] for c in result["ranking"]]
    assert counts == sorted(counts, reverse=True)
    assert placed == result["ranking"][: len(placed)]
    # No one unplaced has more votes than anyone placed.
    rest = result["ranking"][len(placed) :]
    if placed and rest:
        assert min(result["votes"][c] for c in placed) >= max(result["votes"][c] for c in rest)


@given(ballot_lists, shape, st.text(min_size=1).filter(lambda s: "\x00" not in s))
@settings(max_examples=150)
def test_seed_changes_only_the_order_within_tie_groups(ballots, sizes, seed):
    seats, subs = sizes
    one = run(ballots, seats, subs)
    other = run(ballots, seats, subs, key=lottery_key(BOARD, seed))
    assert one["votes"] == other["votes"]

    def groups(result):
        by_votes: dict[int, set[str]] = {}
        for c in result["ranking"]:
            by_votes.setdefault(result["votes"][c], set()).add(c)
        return by_votes

    assert groups(one) == groups(other)
    assert [one["votes"][c] for c in one["ranking"]] == [
        other["votes"][c] for c in other["ranking"]
    ]
    for name in ("elected", "ersattare"):
        assert [one["votes"][c] for c in one[name]] == [other["votes"][c] for c in other[name]]
    # Which vote counts carry a tie that matters does not depend on the seed either.
    assert [t["votes"] for t in one["ties"]] == [t["votes"] for t in other["ties"]]


@given(ballot_lists, shape)
@settings(max_examples=50)
def test_same_inputs_give_the_same_bytes(ballots, sizes):
    seats, subs = sizes
    assert result_bytes(run(ballots, seats, subs)) == result_bytes(
        run([list(b) for b in ballots], seats, subs, candidates=list(CANDS))
    )


def test_documented_example():
    """The worked example in docs/tally.md, number for number."""
    board = hashlib.sha256(b"example board").hexdigest()
    assert board == "308823f3e127a16e3d0421469ac1e53f006480b0eebb139ccd074ec316468b93"
    key = lottery_key(board, "röd kula 17")
    assert key == "eb0f5814f36293bd9e52e9a7bed30bfa6b12bfc1519c60064cadbb0c92b69e6b"
    ballots = [["12", "13"], ["12", "14"], ["13", "15"], ["12", "15"], ["14", "16"], ["13", "14"]]
    result = count(ballots, ["12", "13", "14", "15", "16"], 1, 2, contest="7", key=key)
    assert result["votes"] == {"12": 3, "13": 3, "14": 3, "15": 2, "16": 1}
    assert result["elected"] == ["14"]
    assert result["ersattare"] == ["13", "12"]
    (tie,) = result["ties"]
    assert [(e["candidate"], e["ticket"][:4], e["place"]) for e in tie["order"]] == [
        ("14", "40c9", "elected"),
        ("13", "5bf6", "ersattare 1"),
        ("12", "ad24", "ersattare 2"),
    ]
    assert tie["order"][2]["ticket"] == (
        "ad24e2dcc87ab53bb30d1bbd6d006d9c842a20f4b9dad68ced55f13f5b32b583"
    )
