"""Postal ballots: outer envelopes registered with four eyes, batches, double entry.

The one-signature rule covers paper too: a confirmed envelope inserts the member's
``signature_issued`` row (marked ``POSTAL``, never a blinded message's hash), so the member can
no longer get an online signature, their voter code joins the issued list, and an envelope from
a member who already has an online signature is set aside unopened.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditlog import canonical_json
from auditlog.events import (
    POSTAL_BALLOT_ENTERED,
    POSTAL_BALLOT_RESOLVED,
    POSTAL_BATCH_ACCEPTED,
    POSTAL_BATCH_OPENED,
    POSTAL_ENVELOPE_CONFIRMED,
    POSTAL_ENVELOPE_REGISTERED,
)
from voting.ballot import services as ballot
from voting.ballot.errors import NotOnRoll
from voting.ballot.models import BoardSeal, SignatureIssued
from voting.crypto import pseudonym
from voting.db import insert_for
from voting.elections.models import Contest, Election
from voting.log.services import append
from voting.members.models import Channel, Member
from voting.postal.errors import PostalError
from voting.postal.models import (
    COUNTED,
    PENDING,
    SET_ASIDE,
    PaperBallot,
    PostalBatch,
    PostalEnvelope,
)

POSTAL = "postal"
"""The ``blinded_hash`` of a signature-issued row that a postal envelope made: never a hex hash,
so no blinded message matches it and ``blind_sign`` refuses the member as already signed."""

UNREADABLE_MARK = "x"  # typed for a ballot that cannot be read
BLANK_MARK = "0"  # typed for a ballot with no name marked

ENVELOPE_REGISTERED = POSTAL_ENVELOPE_REGISTERED
ENVELOPE_CONFIRMED = POSTAL_ENVELOPE_CONFIRMED
BATCH_OPENED = POSTAL_BATCH_OPENED
BALLOT_ENTERED = POSTAL_BALLOT_ENTERED
BALLOT_RESOLVED = POSTAL_BALLOT_RESOLVED
BATCH_ACCEPTED = POSTAL_BATCH_ACCEPTED


# --- Outer envelopes ----------------------------------------------------------------------


def _member_contest(session: Session, election: Election, member_id: str) -> Contest:
    if not ballot.roll_frozen(session, election):
        raise PostalError("roll_not_frozen", "the roll is not frozen")
    member = session.get(Member, member_id)
    if member is None:
        raise PostalError("unknown_member", f"no member {member_id!r}", member=member_id)
    try:
        contest = session.get_one(Contest, ballot.member_contest(session, election, member_id))
    except NotOnRoll as exc:
        raise PostalError(
            "not_on_roll", f"member {member_id} is not on the roll", member=member_id
        ) from exc
    # Why only postal members: a kit went only to them; an envelope in anyone else's name
    # would take away a vote they could cast online.
    if member.channel != Channel.POSTAL:
        raise PostalError(
            "not_postal", f"member {member_id} does not vote by postal ballot", member=member_id
        )
    if not ballot.contest_holds_vote(session, contest):
        raise PostalError("no_vote", f"member {member_id}'s krets holds no vote", member=member_id)
    return contest


def _refuse_if_sealed(session: Session, election: Election) -> None:
    if session.get(BoardSeal, election.id) is not None:
        raise PostalError("sealed", "the board is sealed: no more envelopes are taken")


def _envelope_counts(session: Session, contest_id: int) -> Counter[str]:
    return Counter(
        dict(
            session.execute(
                select(PostalEnvelope.status, func.count())
                .where(PostalEnvelope.contest_id == contest_id)
                .group_by(PostalEnvelope.status)
            ).all()
        )
    )


def register_envelope(
    session: Session, election: Election, member_id: str, now: datetime, *, by: int
) -> PostalEnvelope:
    """Register a returned outer envelope; it waits for a second committee member."""
    if now < election.voting_opens:
        raise PostalError("not_open", "voting has not opened")
    contest = _member_contest(session, election, member_id)
    _refuse_if_sealed(session, election)
    existing = session.scalar(
        select(PostalEnvelope).where(
            PostalEnvelope.contest_id == contest.id, PostalEnvelope.member_id == member_id
        )
    )
    if existing is not None:
        raise PostalError(
            "already_registered",
            f"an envelope of member {member_id} is already registered ({existing.status})",
            member=member_id,
            status=existing.status,
        )
    envelope = PostalEnvelope(
        election_id=election.id,
        contest_id=contest.id,
        member_id=member_id,
        registered_by=by,
        registered_at=now,
        status=PENDING,
    )
    session.add(envelope)
    session.flush()
    counts = _envelope_counts(session, contest.id)
    # Counts, never the member: the log is public in the record.
    append(
        session,
        election.slug,
        ENVELOPE_REGISTERED,
        {"contest": str(contest.id), "pending": counts[PENDING], "by": by},
        now,
    )
    return envelope


def pending_envelopes(session: Session, election: Election) -> list[PostalEnvelope]:
    """Registered envelopes waiting for a second committee member, oldest first."""
    return list(
        session.scalars(
            select(PostalEnvelope)
            .where(PostalEnvelope.election_id == election.id, PostalEnvelope.status == PENDING)
            .order_by(PostalEnvelope.id)
        )
    )


def confirm_envelope(
    session: Session, election: Election, member_id: str, now: datetime, *, by: int
) -> PostalEnvelope:
    """The second committee member confirms: counted, or set aside if the member voted online."""
    envelope = session.scalar(
        select(PostalEnvelope)
        .where(PostalEnvelope.election_id == election.id, PostalEnvelope.member_id == member_id)
        .with_for_update()
    )
    if envelope is None:
        raise PostalError(
            "not_registered", f"no envelope of member {member_id} is registered", member=member_id
        )
    if envelope.status != PENDING:
        raise PostalError(
            "already_confirmed",
            f"the envelope of member {member_id} is already {envelope.status}",
            member=member_id,
            status=envelope.status,
        )
    if envelope.registered_by == by:
        raise PostalError(
            "four_eyes",
            "a second committee member must confirm: you registered this envelope",
            member=member_id,
        )
    contest = session.get_one(Contest, envelope.contest_id)
    voter = pseudonym(member_id, election.slug)
    # The same row and primary key as an online signature: whichever comes first wins.
    inserted = session.execute(
        insert_for(session)(SignatureIssued)
        .values(
            contest_id=contest.id,
            voter=voter,
            blinded_hash=POSTAL,
            issued_on=election.local(now).date(),
        )
        .on_conflict_do_nothing(index_elements=["contest_id", "voter"])
        .returning(SignatureIssued.voter)
    ).scalar_one_or_none()
    envelope.status = COUNTED if inserted is not None else SET_ASIDE
    envelope.confirmed_by = by
    envelope.confirmed_at = now
    # Why under the seal's lock: a confirmation racing the seal either lands before it (and is
    # in its counts) or is refused.
    ballot._refuse_if_sealed(session, election)
    session.flush()
    counts = _envelope_counts(session, contest.id)
    append(
        session,
        election.slug,
        ENVELOPE_CONFIRMED,
        {
            "contest": str(contest.id),
            "counted": counts[COUNTED],
            "set_aside": counts[SET_ASIDE],
            "by": by,
        },
        now,
    )
    return envelope


def envelope_counts(session: Session, election: Election) -> dict[int, Counter[str]]:
    """Per contest id, the envelopes by state (pending, counted, set_aside)."""
    rows = session.execute(
        select(PostalEnvelope.contest_id, PostalEnvelope.status, func.count())
        .where(PostalEnvelope.election_id == election.id)
        .group_by(PostalEnvelope.contest_id, PostalEnvelope.status)
    ).all()
    counts: dict[int, Counter[str]] = {c.id: Counter() for c in election.contests}
    for contest_id, status, n in rows:
        counts.setdefault(contest_id, Counter())[status] = n
    return counts


# --- Batches ------------------------------------------------------------------------------


def open_batch(
    session: Session,
    election: Election,
    contest_id: int,
    envelopes: int,
    now: datetime,
    *,
    batch_min: int,
    by: int,
) -> PostalBatch:
    """Open ``envelopes`` inner envelopes of a contest together, as one batch.

    Why at least ``batch_min`` before the close: a batch of one would show how the member whose
    envelope was just confirmed voted; after the close the whole contest is one crowd anyway.
    """
    contest = session.get(Contest, contest_id)
    if contest is None or contest.election_id != election.id:
        raise PostalError("unknown_contest", f"no contest {contest_id} in this election")
    if isinstance(envelopes, bool) or not isinstance(envelopes, int) or envelopes < 1:
        raise PostalError("bad_count", "envelopes: give a whole number ≥ 1")
    if now <= election.voting_closes and envelopes < batch_min:
        raise PostalError(
            "batch_too_small",
            f"before the close a batch holds at least {batch_min} envelopes",
            minimum=batch_min,
        )
    counted = _envelope_counts(session, contest.id)[COUNTED]
    opened = (
        session.scalar(
            select(func.sum(PostalBatch.envelopes)).where(PostalBatch.contest_id == contest.id)
        )
        or 0
    )
    if opened + envelopes > counted:
        raise PostalError(
            "too_many_envelopes",
            f"only {counted - opened} confirmed envelopes of contest {contest.id} are unopened",
            unopened=counted - opened,
        )
    batch = PostalBatch(
        election_id=election.id,
        contest_id=contest.id,
        envelopes=envelopes,
        opened_by=by,
        opened_at=now,
    )
    session.add(batch)
    session.flush()
    append(
        session,
        election.slug,
        BATCH_OPENED,
        {"contest": str(contest.id), "batch": batch.id, "envelopes": envelopes, "by": by},
        now,
    )
    return batch


def candidate_ids(session: Session, contest: Contest) -> list[str]:
    """The contest's candidate ids in published order: candidate number n is index n-1."""
    return [str(n.id) for n in ballot.published_candidates(session, contest)]


def parse_marks(text: str, contest: Contest, candidates: Sequence[str]) -> str:
    """What a committee member typed for one paper ballot, as its canonical stored value.

    ``x`` is an unreadable ballot, ``0`` one with no name marked; otherwise the numbers of the
    marked candidates (1 = the first in published order), separated by spaces or commas. A
    ballot that marks too many or too few names is stored as invalid with that reason.
    """
    words = text.replace(",", " ").split()
    if [w.lower() for w in words] == [UNREADABLE_MARK]:
        return _stored({"invalid": "unreadable"})
    if words == [BLANK_MARK]:
        words = []
    elif not words:
        raise PostalError(
            "no_marks", f"type the candidate numbers, {BLANK_MARK} or {UNREADABLE_MARK}"
        )
    numbers = []
    for word in words:
        if not word.isascii() or not word.isdigit() or not 1 <= int(word) <= len(candidates):
            raise PostalError(
                "bad_number",
                f"{word!r} is not a candidate number (1–{len(candidates)})",
                word=word,
                candidates=len(candidates),
            )
        numbers.append(int(word))
    if len(set(numbers)) != len(numbers):
        raise PostalError("number_twice", "a candidate number is typed twice")
    rule = contest.rule(len(candidates))
    if len(numbers) > rule.max_selections:
        return _stored({"invalid": "too_many"})
    if len(numbers) < rule.min_selections:
        return _stored({"invalid": "too_few"})
    return _stored({"choices": sorted(candidates[n - 1] for n in numbers)})


def _stored(value: dict[str, Any]) -> str:
    return canonical_json(value).decode()


def _open_batch(session: Session, election: Election, batch_id: int) -> PostalBatch:
    batch = session.get(PostalBatch, batch_id)
    if batch is None or batch.election_id != election.id:
        raise PostalError("unknown_batch", f"no batch {batch_id} in this election")
    if batch.accepted_at is not None:
        raise PostalError("accepted", f"batch {batch_id} is already accepted", batch=batch_id)
    return batch


def enter_ballot(
    session: Session,
    election: Election,
    batch_id: int,
    position: int,
    marks: str,
    now: datetime,
    *,
    by: int,
) -> PaperBallot:
    """Enter one paper ballot of a batch: the first entry, or the second by someone else."""
    batch = _open_batch(session, election, batch_id)
    if not 1 <= position <= batch.envelopes:
        raise PostalError(
            "bad_position",
            f"ballot {position}: batch {batch_id} holds ballots 1–{batch.envelopes}",
            position=position,
        )
    contest = session.get_one(Contest, batch.contest_id)
    value = parse_marks(marks, contest, candidate_ids(session, contest))
    row = session.scalar(
        select(PaperBallot)
        .where(PaperBallot.batch_id == batch.id, PaperBallot.position == position)
        .with_for_update()
    )
    if row is None:
        row = PaperBallot(batch_id=batch.id, position=position, first=value, first_by=by)
        session.add(row)
        entry = 1
    elif row.second is not None:
        raise PostalError(
            "entered_twice", f"ballot {position} is already entered twice", position=position
        )
    elif row.first_by == by:
        # Why: double entry catches a misreading only when two people read the ballot.
        raise PostalError(
            "four_eyes",
            f"ballot {position}: the second entry must be made by another committee member",
            position=position,
        )
    else:
        row.second, row.second_by = value, by
        entry = 2
    session.flush()
    append(
        session,
        election.slug,
        BALLOT_ENTERED,
        {"batch": batch.id, "entry": entry, "by": by},
        now,
    )
    return row


def resolve_ballot(
    session: Session,
    election: Election,
    batch_id: int,
    position: int,
    marks: str,
    now: datetime,
    *,
    by: int,
) -> PaperBallot:
    """Settle a ballot whose two entries differ, with the ballot in front of the committee."""
    batch = _open_batch(session, election, batch_id)
    row = session.scalar(
        select(PaperBallot).where(
            PaperBallot.batch_id == batch.id, PaperBallot.position == position
        )
    )
    if row is None or row.second is None:
        raise PostalError(
            "not_entered_twice", f"ballot {position} is not entered twice yet", position=position
        )
    if row.first == row.second:
        raise PostalError(
            "no_mismatch", f"the two entries of ballot {position} agree", position=position
        )
    contest = session.get_one(Contest, batch.contest_id)
    row.resolved = parse_marks(marks, contest, candidate_ids(session, contest))
    row.resolved_by = by
    session.flush()
    append(session, election.slug, BALLOT_RESOLVED, {"batch": batch.id, "by": by}, now)
    return row


def batch_state(session: Session, batch: PostalBatch) -> dict[str, list[int]]:
    """Which ballots of a batch lack a first or second entry, and which entries differ."""
    rows = {
        r.position: r
        for r in session.scalars(select(PaperBallot).where(PaperBallot.batch_id == batch.id))
    }
    state: dict[str, list[int]] = {"missing": [], "once": [], "mismatch": []}
    for position in range(1, batch.envelopes + 1):
        row = rows.get(position)
        if row is None:
            state["missing"].append(position)
        elif row.second is None:
            state["once"].append(position)
        elif row.value is None:
            state["mismatch"].append(position)
    return state


def accept_batch(
    session: Session, election: Election, batch_id: int, now: datetime, *, by: int
) -> dict[str, int]:
    """Accept a batch whose every ballot is entered twice and agreed; its counts."""
    batch = _open_batch(session, election, batch_id)
    state = batch_state(session, batch)
    blockers = []
    if state["missing"]:
        blockers.append(f"ballots not entered: {_positions(state['missing'])}")
    if state["once"]:
        blockers.append(f"ballots entered only once: {_positions(state['once'])}")
    if state["mismatch"]:
        blockers.append(f"ballots whose entries differ: {_positions(state['mismatch'])}")
    if blockers:
        raise PostalError("batch_not_ready", "; ".join(blockers), **state)
    values = [json.loads(v) for v in paper_values(session, [batch.id])]
    counts = {
        "ballots": sum("choices" in v for v in values),
        "invalid": sum("invalid" in v for v in values),
    }
    batch.accepted_by, batch.accepted_at = by, now
    session.flush()
    append(
        session,
        election.slug,
        BATCH_ACCEPTED,
        {"contest": str(batch.contest_id), "batch": batch.id, **counts, "by": by},
        now,
    )
    return counts


def _positions(positions: list[int]) -> str:
    return ", ".join(str(p) for p in positions)


def paper_values(session: Session, batch_ids: Sequence[int]) -> list[str]:
    """The settled values of the ballots of these batches, sorted (no batch order)."""
    rows = session.scalars(select(PaperBallot).where(PaperBallot.batch_id.in_(list(batch_ids))))
    return sorted(v for r in rows if (v := r.value) is not None)


def batches(session: Session, election: Election) -> list[PostalBatch]:
    """The election's batches, in the order they were opened."""
    return list(
        session.scalars(
            select(PostalBatch)
            .where(PostalBatch.election_id == election.id)
            .order_by(PostalBatch.id)
        )
    )
