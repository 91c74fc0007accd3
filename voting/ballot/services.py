"""Roll, voting links, blind signing, casting and the board.

Unlinkability rests on three things here: a signature-issued row names a keyed pseudonym, a
hash of the blinded message and the day only; a ballot row holds no member, no time and no
sequence; and no audit entry written while voting is open mentions a ballot.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditlog import canonical_json
from auditlog.events import ROLL_MEMBER_ADDED
from ballots.ballot import b64url_decode, b64url_encode, ballot_hash, parse_ballot
from ballots.blindrsa import BlindSigner, verify
from ballots.board import board_hash, sorted_board
from ballots.errors import BallotError
from ballots.rules import holds_vote
from voting.ballot import codes
from voting.ballot.errors import (
    AlreadySigned,
    DuplicateBallot,
    NotOnRoll,
    NoVote,
    UnknownContest,
    WindowClosed,
    WrongKrets,
)
from voting.ballot.keys import load_private_key, public_key_json
from voting.ballot.models import (
    Ballot,
    BoardSeal,
    ContestKey,
    RollEntry,
    RollFreeze,
    SignatureIssued,
)
from voting.crypto import pseudonym
from voting.db import insert_for, lock_row, parse_id
from voting.elections.models import Contest, Election
from voting.errors import Blocker, TransitionBlocked, VotingError
from voting.log.keys import ensure_log_key, public_key_b64, sign
from voting.log.services import Actor, append
from voting.members.models import Member
from voting.nominations.models import Nomination
from voting.nominations.review import candidate_list

LINK_GRACE = timedelta(days=30)  # a link still shows "signature issued?" this long after the close


# --- Candidates and manifest --------------------------------------------------------------


def published_candidates(session: Session, contest: Contest) -> list[Nomination]:
    """The contest's published candidates, in the order of the hashed list."""
    if contest.list_hash is None:
        return []
    return candidate_list(session, contest)


def contest_holds_vote(session: Session, contest: Contest) -> bool:
    """Whether the contest's published list has more candidates than seats (a vote is held)."""
    return contest.list_hash is not None and holds_vote(
        contest.seats, len(_candidate_ids(session, contest))
    )


def _refuse_without_vote(session: Session, contest: Contest) -> None:
    if not contest_holds_vote(session, contest):
        raise NoVote("no vote is held in this krets: its candidates are elected without one")


_MANIFESTS: dict[tuple[Any, ...], dict[str, Any]] = {}


def manifest(session: Session, election: Election) -> dict[str, Any]:
    """Everything a voter's client and an auditor need to know about the contests.

    Once the lists are published (their hashes logged, the keys made) the manifest changes only
    with the schedule, so each process builds it once per schedule: every voter fetches it.
    """
    if election.candidates_published_at is None:
        return _build_manifest(session, election)
    ident = (
        str(session.get_bind().engine.url),
        election.id,
        election.candidates_published_at,
        election.voting_opens,
        election.voting_closes,
        election.title,
        tuple(c.list_hash for c in election.contests),
    )
    cached = _MANIFESTS.get(ident)
    if cached is None:
        if len(_MANIFESTS) > 64:  # schedule changes in a long-lived process: drop the old ones
            _MANIFESTS.clear()
        cached = _MANIFESTS[ident] = _build_manifest(session, election)
    return json.loads(json.dumps(cached))  # a private copy: callers may change theirs


def _build_manifest(session: Session, election: Election) -> dict[str, Any]:
    log_key = ensure_log_key(session, election.slug)
    contests = []
    for contest in election.contests:
        key = session.get(ContestKey, contest.id)
        candidates = published_candidates(session, contest)
        rule = contest.rule(len(candidates) if contest.list_hash else None)
        entry: dict[str, Any] = {
            "id": str(contest.id),
            "krets": {"code": contest.krets_code, "name": contest.krets.name},
            "seats": contest.seats,
            "min_selections": rule.min_selections,
            "max_selections": rule.max_selections,
            "substitutes": contest.substitutes,
            "list_hash": contest.list_hash,
            "candidates": [{"id": str(n.id), "name": n.member.full_name} for n in candidates],
        }
        if key is not None:
            entry.update(public_key_json(key))
        contests.append(entry)
    return {
        "version": 1,
        "election": election.slug,
        "title": election.title,
        "timezone": election.timezone,
        "voting_opens": election.voting_opens.isoformat(),
        "voting_closes": election.voting_closes.isoformat(),
        "log_key": public_key_b64(log_key),
        "contests": contests,
    }


# --- The electoral roll -------------------------------------------------------------------


def roll_frozen(session: Session, election: Election) -> bool:
    return session.get(RollFreeze, election.id) is not None


def add_to_roll(
    session: Session, election: Election, member: Member, now: datetime, *, by: Actor
) -> RollEntry:
    """The committee adds a member after the freeze, with a fresh voter code; the addition is
    logged with the contest's new roll size and the commitment to its codes."""
    if not roll_frozen(session, election):
        raise TransitionBlocked([Blocker("roll_not_frozen_yet")])
    contest = next((c for c in election.contests if c.krets_code == member.krets_code), None)
    if contest is None:
        raise VotingError(
            f"krets {member.krets_code} has no contest in this election", code="no_contest"
        )
    if session.scalar(
        select(RollEntry.id).where(
            RollEntry.election_id == election.id, RollEntry.member_id == member.member_id
        )
    ):
        raise VotingError("the member is already on the roll", code="already_on_roll")
    # Why lock the contest: two additions to one roll must take turns, or both would commit to
    # a roll without the other's code.
    lock_row(session, Contest, contest.id)
    roll = codes.contest_roll_codes(session, election, contest.id)
    entry, code = codes.add_entry(
        session, election, contest, member.member_id, source="committee", added_at=now
    )
    # Why: an addition racing the seal must either be counted in it or refused, so that the
    # sealed roll size is the roll the log shows (verify-election recomputes it).
    _refuse_if_sealed(session, election)
    size = codes.roll_size(session, contest.id)
    append(
        session,
        election.slug,
        ROLL_MEMBER_ADDED,
        {
            "contest": str(contest.id),
            "voter": pseudonym(member.member_id, election.slug),
            "size": size,
            "codes_hash": codes.commit_roll(session, contest.id, [*roll, code], size=size),
            "by": by,
        },
        now,
    )
    session.flush()
    return entry


def roll_sizes(session: Session, election: Election) -> dict[int, int]:
    return dict(
        session.execute(
            select(RollEntry.contest_id, func.count())
            .where(RollEntry.election_id == election.id)
            .group_by(RollEntry.contest_id)
        ).all()
    )


# --- Blind signing ------------------------------------------------------------------------

_SIGNERS: dict[tuple[int, str], BlindSigner] = {}


def _signer(key: ContestKey) -> BlindSigner:
    # Why a cache: decrypting the key and precomputing its CRT values per request would cost
    # more than the signature itself. The cache key includes the public key's hash, so a
    # replaced key is never signed with from a stale entry.
    ident = (key.contest_id, hashlib.sha256(key.public_key_der).hexdigest())
    signer = _SIGNERS.get(ident)
    if signer is None:
        signer = _SIGNERS[ident] = BlindSigner(load_private_key(key))
    return signer


_CANDIDATE_IDS: dict[tuple[str, int, str], frozenset[str]] = {}


def _candidate_ids(session: Session, contest: Contest) -> frozenset[str]:
    # The published list never changes (its hash is logged), so each process reads it once.
    if contest.list_hash is None:
        return frozenset()
    ident = (str(session.get_bind().engine.url), contest.id, contest.list_hash)
    ids = _CANDIDATE_IDS.get(ident)
    if ids is None:
        ids = _CANDIDATE_IDS[ident] = frozenset(
            str(n.id) for n in published_candidates(session, contest)
        )
    return ids


def _contest(session: Session, contest_id: str) -> Contest:
    key = parse_id(contest_id)  # "²" passes isdigit() but not int(); 10**30 overflows
    contest = session.get(Contest, key) if key is not None else None
    if contest is None:
        raise UnknownContest(f"no contest {contest_id!r}")
    return contest


def member_contest(session: Session, election: Election, member_id: str) -> int:
    contest_id = session.scalar(
        select(RollEntry.contest_id).where(
            RollEntry.election_id == election.id, RollEntry.member_id == member_id
        )
    )
    if contest_id is None:
        raise NotOnRoll("you are not on the electoral roll of this election")
    return contest_id


def signature_issued_on(session: Session, contest_id: int, member_id: str) -> date | None:
    """The day (election's timezone) a blind signature was issued in the member's name, if ever.

    Only the day is kept: a finer time would order the signatures like the ballots they became.
    """
    contest = session.get_one(Contest, contest_id)
    voter = pseudonym(member_id, contest.election.slug)
    return session.scalar(
        select(SignatureIssued.issued_on).where(
            SignatureIssued.contest_id == contest_id, SignatureIssued.voter == voter
        )
    )


def blind_sign(
    session: Session,
    member_id: str,
    link_election_id: int,
    contest_id: str,
    body: Any,
    now: datetime,
) -> str:
    """Sign the member's blinded ballot, at most once per member and contest, ever.

    The same blinded message again gets the same signature (RSA signing is deterministic), so
    a retry after a lost answer is safe; any other blinded message is refused with 409.
    """
    contest = _contest(session, contest_id)
    election = contest.election
    if election.id != link_election_id:
        raise WrongKrets("this contest belongs to another election")
    if not election.voting_open(now):
        raise WindowClosed("voting is not open")
    if member_contest(session, election, member_id) != contest.id:
        raise WrongKrets("this contest is not in your krets")
    _refuse_without_vote(session, contest)
    if not isinstance(body, dict) or set(body) != {"blinded_msg"}:
        raise VotingError('the body must be {"blinded_msg": "<base64url>"}', code="bad_body")
    key = session.get(ContestKey, contest.id)
    if key is None:
        raise WindowClosed("this contest has no key yet")
    signer = _signer(key)
    try:
        blinded = b64url_decode(
            body["blinded_msg"], field="blinded_msg", length=signer.modulus_length
        )
    except BallotError as exc:
        raise VotingError(exc.message, code=exc.code) from exc
    if int.from_bytes(blinded, "big") >= signer.public_key.public_numbers().n:
        raise VotingError("blinded_msg: not smaller than the modulus", code="invalid_blinded_msg")
    voter = pseudonym(member_id, election.slug)
    blinded_hash = hashlib.sha256(blinded).hexdigest()
    inserted = session.execute(
        insert_for(session)(SignatureIssued)
        .values(
            contest_id=contest.id,
            voter=voter,
            blinded_hash=blinded_hash,
            issued_on=election.local(now).date(),
        )
        .on_conflict_do_nothing(index_elements=["contest_id", "voter"])
        .returning(SignatureIssued.voter)
    ).scalar_one_or_none()
    if inserted is None:
        # Why re-read after the insert: under a race the primary key decides who was
        # first; the loser sees the winner's row here and follows the retry rule.
        existing = session.scalar(
            select(SignatureIssued.blinded_hash).where(
                SignatureIssued.contest_id == contest.id, SignatureIssued.voter == voter
            )
        )
        if existing != blinded_hash:
            raise AlreadySigned("a signature was already issued to you for another ballot")
    _refuse_if_sealed(session, election)
    try:
        return b64url_encode(signer.sign(blinded))
    except BallotError as exc:
        raise VotingError(exc.message, code=exc.code) from exc


# --- Casting ------------------------------------------------------------------------------

BALLOT_BODY_KEYS = {"ballot", "msg_prefix", "signature"}


def receipt(session: Session, election: Election, contest_id: int, digest: str) -> dict[str, str]:
    """The receipt of a ballot, signed with the election's Ed25519 log key."""
    body = {"ballot_hash": digest, "contest": str(contest_id), "election": election.slug}
    signature = sign(ensure_log_key(session, election.slug), canonical_json(body))
    return {**body, "server_signature": base64.b64encode(signature).decode()}


def cast(
    session: Session, contest_id: str, body: Any, now: datetime
) -> tuple[dict[str, str], bool]:
    """Check and store an anonymous signed ballot; return its receipt and whether it is new."""
    if not isinstance(body, dict) or set(body) != BALLOT_BODY_KEYS:
        raise VotingError(
            "the body must have exactly the keys ballot, msg_prefix and signature", code="bad_body"
        )
    if not all(isinstance(body[k], str) for k in BALLOT_BODY_KEYS):
        raise VotingError("ballot, msg_prefix and signature must be strings", code="bad_body")
    contest = _contest(session, contest_id)
    election = contest.election
    if not election.voting_open(now):
        raise WindowClosed("voting is not open")
    _refuse_without_vote(session, contest)
    key = session.get(ContestKey, contest.id)
    if key is None:
        raise WindowClosed("this contest has no key yet")
    signer = _signer(key)
    candidates = _candidate_ids(session, contest)
    try:
        prefix = b64url_decode(body["msg_prefix"], field="msg_prefix", length=32)
        signature = b64url_decode(
            body["signature"], field="signature", length=signer.modulus_length
        )
        parse_ballot(
            body["ballot"],
            election=election.slug,
            contest=str(contest.id),
            candidate_ids=candidates,
            rule=contest.rule(len(candidates)),
        )
        ballot_bytes = body["ballot"].encode("utf-8")
        verify(signer.public_key, prefix + ballot_bytes, signature)
    except BallotError as exc:
        raise VotingError(exc.message, code=exc.code) from exc
    digest = ballot_hash(prefix, ballot_bytes)
    created = (
        session.execute(
            insert_for(session)(Ballot)
            .values(
                ballot_hash=digest,
                contest_id=contest.id,
                ballot=body["ballot"],
                msg_prefix=body["msg_prefix"],
                signature=body["signature"],
            )
            .on_conflict_do_nothing()
            .returning(Ballot.ballot_hash)
        ).scalar_one_or_none()
        is not None
    )
    if not created:
        existing = session.get(Ballot, digest)
        if existing is None:
            raise DuplicateBallot("this signature was already used", code="signature_used")
        if existing.signature != body["signature"] or existing.contest_id != contest.id:
            raise DuplicateBallot("this ballot was already cast with another signature")
    _refuse_if_sealed(session, election)
    return receipt(session, election, contest.id, digest), created


# The first key of the seal's advisory locks (the second is the election id). Two-int advisory
# keys live apart from the scheduler's one-bigint key.
SEAL_LOCK_CLASS = 0x4B56  # "KV"


def seal_lock(session: Session, election: Election, *, exclusive: bool) -> None:
    """PostgreSQL: the seal holds its election's lock alone; casts, signings and roll additions
    share it, each until its transaction ends.

    Why an advisory lock, not a table lock: it needs no table rights (the app role may not
    UPDATE or DELETE the board, which LOCK TABLE … SHARE would require), and it holds back only
    the election being sealed. On SQLite every write transaction is serialized anyway.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    session.execute(
        sa.text(f"SELECT {function}(:cls, :election)"),
        {"cls": SEAL_LOCK_CLASS, "election": election.id},
    )


def _refuse_if_sealed(session: Session, election: Election) -> None:
    """Refuse (and so roll back) a write that would land after the seal.

    Why after the insert: a request that passed the clock check just before the close may reach
    its insert only after ``seal_board`` has run. The shared lock waits for a seal in progress
    to commit, so this read then sees it; and a seal that starts later waits for this
    transaction, so it counts what this one wrote.
    """
    seal_lock(session, election, exclusive=False)
    sealed = session.scalar(
        select(BoardSeal.election_id).where(BoardSeal.election_id == election.id)
    )
    if sealed is not None:
        raise WindowClosed("voting has closed: the board is sealed")


# --- The board ----------------------------------------------------------------------------


def signatures_issued(session: Session, election: Election) -> dict[int, int]:
    return dict(
        session.execute(
            select(SignatureIssued.contest_id, func.count())
            .join(Contest, Contest.id == SignatureIssued.contest_id)
            .where(Contest.election_id == election.id)
            .group_by(SignatureIssued.contest_id)
        ).all()
    )


def board_ballots(session: Session, contest: Contest) -> list[dict[str, str]]:
    rows = session.execute(
        select(Ballot.ballot, Ballot.ballot_hash, Ballot.msg_prefix, Ballot.signature)
        .where(Ballot.contest_id == contest.id)
        .order_by(Ballot.ballot_hash)
    ).mappings()
    return sorted_board(dict(row) for row in rows)


def board(session: Session, election: Election, now: datetime) -> dict[str, Any]:
    """While voting is open, only the ballot hashes; after the close, the ballots themselves."""
    closed = now > election.voting_closes
    issued = signatures_issued(session, election) if closed else {}
    contests = []
    for contest in election.contests:
        entry: dict[str, Any] = {"id": str(contest.id), "krets": contest.krets_code}
        if closed:
            ballots = board_ballots(session, contest)
            entry.update(
                ballots=ballots,
                board_hash=board_hash(ballots),
                signatures_issued=issued.get(contest.id, 0),
            )
        else:
            entry["ballot_hashes"] = list(
                session.scalars(
                    select(Ballot.ballot_hash)
                    .where(Ballot.contest_id == contest.id)
                    .order_by(Ballot.ballot_hash)
                )
            )
        contests.append(entry)
    seal = session.get(BoardSeal, election.id)
    return {
        "election": election.slug,
        "status": "closed" if closed else ("open" if election.voting_open(now) else "not_open"),
        "sealed": seal is not None,
        "contests": contests,
    }
