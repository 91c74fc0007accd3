"""The count after the close: re-check every ballot on the sealed board, count, log it once."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog.events import TALLY_COUNTED
from ballots.ballot import b64url_decode, ballot_hash, parse_ballot
from ballots.blindrsa import load_public_key_spki, verify
from ballots.board import board_hash, sorted_board
from ballots.errors import BallotError
from ballots.rules import holds_vote
from ballots.tally import TallyError, count, lottery_key, result_bytes, result_hash, turnout
from voting.ballot import services
from voting.ballot.models import Ballot, BoardSeal, ContestKey, Tally
from voting.elections.models import Contest, Election
from voting.errors import Blocker, TransitionBlocked
from voting.lifecycle import Stage, stage
from voting.log.checkpoints import checkpoint_now
from voting.log.services import Actor, append
from voting.postal.paper import paper_for_count

RESULT_VERSION = 1
MAX_SEED_LENGTH = 200


def _guards(session: Session, election: Election, seed: str, now: datetime) -> dict[str, Any]:
    """The sealed board's data per contest id; TransitionBlocked listing every blocker."""
    blockers = []
    current = stage(session, election, now)
    if not current.reached(Stage.CLOSED):
        blockers.append(Blocker("voting_not_closed"))
    seal = session.get(BoardSeal, election.id)
    if seal is None:
        blockers.append(Blocker("board_not_sealed", {"slug": election.slug}))
    if current.reached(Stage.COUNTED):
        blockers.append(Blocker("already_counted"))
    if not isinstance(seed, str) or not seed.strip():
        blockers.append(Blocker("seed_missing"))
    elif len(seed) > MAX_SEED_LENGTH or any(ord(ch) < 32 for ch in seed):
        blockers.append(Blocker("seed_invalid", {"max": MAX_SEED_LENGTH}))
    if blockers or seal is None:
        raise TransitionBlocked(blockers)
    sealed = {c["contest"]: c for c in json.loads(seal.seal)["contests"]}
    missing = [str(c.id) for c in election.contests if str(c.id) not in sealed]
    if missing:
        raise TransitionBlocked(
            [Blocker("contest_not_sealed", {"contest": cid}) for cid in missing]
        )
    return sealed


def _checked_choices(
    session: Session, election: Election, contest: Contest, sealed: dict[str, Any]
) -> tuple[list[tuple[str, ...]], list[str], list[str]]:
    """Every ballot of the contest checked again: (choices per ballot, candidate ids, problems)."""
    candidates = [str(n.id) for n in services.published_candidates(session, contest)]
    rule = contest.rule(len(candidates))
    rows = session.execute(
        select(Ballot.ballot, Ballot.ballot_hash, Ballot.msg_prefix, Ballot.signature)
        .where(Ballot.contest_id == contest.id)
        .order_by(Ballot.ballot_hash)
    ).mappings()
    board = sorted_board(dict(row) for row in rows)
    problems = []
    key_row = session.get(ContestKey, contest.id)
    if key_row is None:
        return [], candidates, [f"contest {contest.id}: has no key"]
    public_key = load_public_key_spki(key_row.public_key_der)
    choices = []
    # Why again: the tally must not trust that the database still holds what cast() accepted;
    # a row edited after the close must stop the count, not change it.
    for entry in board:
        digest = entry["ballot_hash"]
        try:
            parsed = parse_ballot(
                entry["ballot"],
                election=election.slug,
                contest=str(contest.id),
                candidate_ids=frozenset(candidates),
                rule=rule,
            )
            prefix = b64url_decode(entry["msg_prefix"], field="msg_prefix", length=32)
            signature = b64url_decode(entry["signature"], field="signature")
            ballot_bytes = entry["ballot"].encode("utf-8")
            verify(public_key, prefix + ballot_bytes, signature)
            if ballot_hash(prefix, ballot_bytes) != digest:
                raise BallotError("the ballot hash does not match the ballot")
        except BallotError as exc:
            problems.append(f"ballot {digest}: {exc.message}")
            continue
        choices.append(parsed.choices)
    seal = sealed[str(contest.id)]
    if board_hash(board) != seal["board_hash"]:
        problems.append(
            f"contest {contest.id}: the board hash {board_hash(board)} is not the sealed "
            f"{seal['board_hash']}"
        )
    if len(board) != seal["ballots"]:
        problems.append(
            f"contest {contest.id}: {len(board)} ballots on the board, {seal['ballots']} sealed"
        )
    if board and not holds_vote(contest.seats, len(candidates)):
        problems.append(f"contest {contest.id}: holds no vote, yet has ballots on the board")
    if len(board) > seal["signatures_issued"]:
        problems.append(
            f"contest {contest.id}: more ballots ({len(board)}) than signatures issued "
            f"({seal['signatures_issued']})"
        )
    return choices, candidates, problems


def compute(session: Session, election: Election, seed: str, now: datetime) -> dict[str, Any]:
    """Check every guard and ballot and count; TransitionBlocked on any problem. Writes nothing."""
    sealed = _guards(session, election, seed, now)
    contests = []
    problems: list[str] = []
    for contest in sorted(election.contests, key=lambda c: c.id):
        choices, candidates, found = _checked_choices(session, election, contest, sealed)
        seal = sealed[str(contest.id)]
        envelopes = seal.get("postal_envelopes", 0)  # a seal from before postal ballots has none
        paper, invalid, paper_found = paper_for_count(session, contest, envelopes)
        found += paper_found
        problems.extend(found)
        if found:
            continue
        voted = len(choices) + len(paper) + len(invalid)
        try:
            counted = count(
                choices + paper,
                candidates,
                contest.seats,
                contest.substitutes,
                contest=str(contest.id),
                key=lottery_key(seal["board_hash"], seed),
            )
        except TallyError as exc:
            problems.append(f"contest {contest.id}: {exc}")
            continue
        contests.append(
            {
                **counted,
                "krets": contest.krets_code,
                "board_hash": seal["board_hash"],
                "ballots_cast": len(choices),
                "signatures_issued": seal["signatures_issued"],
                "roll_size": seal["roll_size"],
                "turnout": turnout(voted, seal["roll_size"]),
            }
        )
        if envelopes:
            contests[-1].update(paper_ballots=len(paper), paper_invalid=len(invalid))
    if problems:
        raise TransitionBlocked([Blocker("board_inconsistent", {"problem": p}) for p in problems])
    return {
        "version": RESULT_VERSION,
        "election": election.slug,
        "seed": seed,
        "contests": contests,
    }


def tally(
    session: Session, election: Election, seed: str, now: datetime, *, by: Actor
) -> dict[str, Any]:
    """Count the sealed election once: store the result and log one ``tally.counted`` event."""
    result = compute(session, election, seed, now)
    session.add(
        Tally(
            election_id=election.id,
            seed=seed,
            result=result_bytes(result).decode("utf-8"),
            counted_at=now,
        )
    )
    append(
        session,
        election.slug,
        TALLY_COUNTED,
        {
            "seed": seed,
            "results_hash": result_hash(result),
            "contests": [
                {"contest": c["contest"], "elected": c["elected"], "ersattare": c["ersattare"]}
                for c in result["contests"]
            ],
            "by": by,
        },
        now,
    )
    # The count is a phase change: a signed checkpoint covers it, so the record verifies.
    checkpoint_now(session, election.slug, now, TALLY_COUNTED)
    session.flush()
    return result


def stored_result(session: Session, election: Election) -> dict[str, Any] | None:
    """The stored result of the count, if the election is counted."""
    row = session.get(Tally, election.id)
    return None if row is None else json.loads(row.result)
