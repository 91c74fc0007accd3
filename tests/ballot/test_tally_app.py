"""``voting tally``: guards, re-checking every ballot, the count, the stored row and the log."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from ballots.tally import count, lottery_key, result_bytes
from voting.ballot.models import Ballot, BoardSeal, Tally
from voting.db import db
from voting.elections.services import get_election
from voting.errors import Blocker, TransitionBlocked
from voting.lifecycle.cli import tally as tally_command
from voting.lifecycle.seal import seal_board
from voting.lifecycle.tally import compute, stored_result, tally
from voting.log.models import AuditEntry

from .conftest import AFTER

SEED = "röd kula 17"


def cast_all(voting, voter_client):
    soder, bromma = voting.candidates["SODERMALM"], voting.candidates["BROMMA"]
    votes = {
        "S1": ("SODERMALM", [soder[0], soder[1]]),
        "S2": ("SODERMALM", [soder[0], soder[2]]),
        "S3": ("SODERMALM", [soder[0], soder[1]]),
        "B1": ("BROMMA", [bromma[0]]),
        "B2": ("BROMMA", [bromma[1]]),
    }
    return {
        member: voter_client(voting.tokens[member]).vote(
            voting.slug, voting.contests[krets], choices
        )["ballot_hash"]
        for member, (krets, choices) in votes.items()
    }


def seal(slug, now=AFTER):
    with db.transaction() as s:
        seal_board(s, get_election(s, slug), now, by="cli")


def run_tally(slug, seed=SEED, now=AFTER):
    with db.transaction() as s:
        return tally(s, get_election(s, slug), seed, now, by="cli")


def sealed_hashes(slug):
    with db.transaction() as s:
        row = s.get(BoardSeal, get_election(s, slug).id)
        return {c["contest"]: c["board_hash"] for c in json.loads(row.seal)["contests"]}


@pytest.fixture
def counted(voting, voter_client, clock):
    hashes = cast_all(voting, voter_client)
    clock.set(AFTER)
    seal(voting.slug)
    return hashes, run_tally(voting.slug)


def test_counts_per_krets(voting, counted):
    _, result = counted
    assert result["election"] == voting.slug
    assert result["seed"] == SEED
    by_krets = {c["krets"]: c for c in result["contests"]}
    soder, bromma = voting.candidates["SODERMALM"], voting.candidates["BROMMA"]
    s = by_krets["SODERMALM"]
    assert s["votes"] == {soder[0]: 3, soder[1]: 2, soder[2]: 1}
    assert s["elected"] == [soder[0], soder[1]]
    assert s["ersattare"] == [soder[2]]
    assert s["ties"] == []
    assert (s["ballots_cast"], s["signatures_issued"], s["roll_size"]) == (3, 3, 4)
    assert s["turnout"] == "75.0"
    b = by_krets["BROMMA"]
    assert b["votes"] == {bromma[0]: 1, bromma[1]: 1}
    assert (b["ballots_cast"], b["roll_size"], b["turnout"]) == (2, 2, "100.0")
    # One seat, one ersättare, a 1-1 tie: decided by lot, lower ticket first.
    (tie,) = b["ties"]
    assert [e["place"] for e in tie["order"]] == ["elected", "ersattare 1"]
    assert b["elected"] + b["ersattare"] == [e["candidate"] for e in tie["order"]]
    assert tie["order"][0]["ticket"] < tie["order"][1]["ticket"]


def test_result_is_the_pure_recount_with_the_sealed_board_hash(voting, counted):
    _, result = counted
    hashes = sealed_hashes(voting.slug)
    for contest in result["contests"]:
        assert contest["board_hash"] == hashes[contest["contest"]]
        with db.transaction() as s:
            texts = s.scalars(
                select(Ballot.ballot).where(Ballot.contest_id == int(contest["contest"]))
            ).all()
        choices = [json.loads(t)["choices"] for t in texts]
        krets = contest["krets"]
        recount = count(
            choices,
            voting.candidates[krets],
            contest["seats"],
            contest["substitutes"],
            contest=contest["contest"],
            key=lottery_key(hashes[contest["contest"]], SEED),
        )
        assert {k: contest[k] for k in recount} == recount


def test_stored_row_and_one_audit_event(voting, counted):
    _, result = counted
    with db.transaction() as s:
        election = get_election(s, voting.slug)
        row = s.get(Tally, election.id)
        assert row.seed == SEED
        assert row.result.encode() == result_bytes(result)
        assert stored_result(s, election) == result
        events = s.scalars(select(AuditEntry).where(AuditEntry.type == "tally.counted")).all()
    (event,) = events
    data = json.loads(event.body)["data"]
    assert data["seed"] == SEED
    assert data["results_hash"] == hashlib.sha256(result_bytes(result)).hexdigest()
    assert data["contests"] == [
        {"contest": c["contest"], "elected": c["elected"], "ersattare": c["ersattare"]}
        for c in result["contests"]
    ]


def test_another_seed_can_only_reorder_the_tie(voting, voter_client, clock):
    cast_all(voting, voter_client)
    clock.set(AFTER)
    seal(voting.slug)
    with db.transaction() as s:
        election = get_election(s, voting.slug)
        results = [compute(s, election, f"seed {n}", AFTER) for n in range(12)]
    bromma = [next(c for c in r["contests"] if c["krets"] == "BROMMA") for r in results]
    assert {tuple(b["elected"] + b["ersattare"]) for b in bromma} == {
        tuple(voting.candidates["BROMMA"]),
        tuple(reversed(voting.candidates["BROMMA"])),
    }
    soder = {
        json.dumps(
            {k: v for k, v in c.items() if k not in ("lottery_key", "ranking")}, sort_keys=True
        )
        for r in results
        for c in r["contests"]
        if c["krets"] == "SODERMALM"
    }
    assert len(soder) == 1


def test_blocked_before_the_close(voting, voter_client):
    cast_all(voting, voter_client)
    with pytest.raises(TransitionBlocked) as exc:
        run_tally(voting.slug, now=voting_closes_minus_a_second(voting))
    assert exc.value.codes == ["voting_not_closed", "board_not_sealed"]
    assert "voting has not closed" in str(exc.value)
    assert "seal the board first" in str(exc.value)


def voting_closes_minus_a_second(voting):
    with db.transaction() as s:
        return get_election(s, voting.slug).voting_closes - timedelta(seconds=1)


def test_blocked_when_the_board_is_not_sealed(voting, voter_client, clock):
    cast_all(voting, voter_client)
    clock.set(AFTER)
    with pytest.raises(TransitionBlocked) as exc:
        run_tally(voting.slug)
    assert exc.value.blockers == [Blocker("board_not_sealed", {"slug": voting.slug})]
    assert str(exc.value) == f"seal the board first (voting board seal {voting.slug})"
    with db.transaction() as s:
        assert s.scalars(select(Tally)).all() == []


def test_blocked_the_second_time(voting, counted):
    with pytest.raises(TransitionBlocked, match="already counted"):
        run_tally(voting.slug, seed="another seed")
    with db.transaction() as s:
        events = s.scalars(select(AuditEntry).where(AuditEntry.type == "tally.counted")).all()
        assert len(events) == 1
        assert s.scalars(select(Tally.seed)).all() == [SEED]


@pytest.mark.parametrize("seed", ["", "   ", "a\x00b", "x" * 201])
def test_blocked_on_a_bad_seed(voting, voter_client, clock, seed):
    cast_all(voting, voter_client)
    clock.set(AFTER)
    seal(voting.slug)
    with pytest.raises(TransitionBlocked, match="--seed"):
        run_tally(voting.slug, seed=seed)


@pytest.mark.parametrize(
    "tamper",
    [
        "choice",  # a changed choice: invalid signature, wrong hash
        "whitespace",  # not canonical any more
    ],
)
def test_a_tampered_ballot_blocks_the_tally_naming_it(voting, voter_client, clock, tamper):
    hashes = cast_all(voting, voter_client)
    clock.set(AFTER)
    seal(voting.slug)
    target = hashes["S2"]
    soder = voting.candidates["SODERMALM"]
    with db.transaction() as s:
        text = s.get(Ballot, target).ballot
        new = text + " "
        if tamper == "choice":  # keep the choices sorted, so only the signature catches it
            body = json.loads(text)
            body["choices"] = sorted([soder[0], soder[1]])
            new = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        s.execute(
            sa.text("UPDATE ballot SET ballot = :b WHERE ballot_hash = :h"), {"b": new, "h": target}
        )
    with pytest.raises(TransitionBlocked) as exc:
        run_tally(voting.slug)
    assert any(target in str(b.params["problem"]) for b in exc.value.blockers)
    assert f"ballot {target}" in str(exc.value)
    with db.transaction() as s:
        assert s.scalars(select(Tally)).all() == []
        assert not s.scalars(select(AuditEntry).where(AuditEntry.type == "tally.counted")).all()


def test_a_deleted_ballot_blocks_the_tally(voting, voter_client, clock):
    hashes = cast_all(voting, voter_client)
    clock.set(AFTER)
    seal(voting.slug)
    with db.transaction() as s:
        s.execute(sa.text("DELETE FROM ballot WHERE ballot_hash = :h"), {"h": hashes["B1"]})
    with pytest.raises(TransitionBlocked, match="is not the sealed"):
        run_tally(voting.slug)


def test_cli_prints_a_summary_and_fails_on_blockers(app, voting, voter_client, clock):
    cast_all(voting, voter_client)
    clock.set(AFTER)
    runner = app.test_cli_runner()
    blocked = runner.invoke(tally_command, [voting.slug, "--seed", SEED])
    assert blocked.exit_code != 0
    assert "seal the board first" in blocked.output
    seal(voting.slug)
    result = runner.invoke(tally_command, [voting.slug, "--seed", SEED])
    assert result.exit_code == 0, result.output
    assert "SODERMALM: 3 röstsedlar" in result.output
    assert "valdeltagande 75,0\u00a0%" in result.output
    assert "BROMMA: 2 röstsedlar, 2 signaturer utfärdade" in result.output
    assert "Anna Berg (3 röster)" in result.output
    assert "Lottning (1 röst)" in result.output
    # The tie-break line speaks Swedish, like the rest of the summary.
    assert "→ vald" in result.output
    assert "→ elected" not in result.output
    again = runner.invoke(tally_command, [voting.slug, "--seed", SEED])
    assert again.exit_code != 0
    assert "already counted" in again.output
