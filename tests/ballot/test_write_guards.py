"""Migration 0008's triggers, on SQLite and PostgreSQL: a sealed election's schedule, a frozen
roll and a link's token cannot change, whoever writes (the owner included)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_election, make_member
from voting.ballot.models import BoardSeal, RollEntry, RollFreeze, VoterLink


def refused(db_session, statement, **params):
    with pytest.raises(sa.exc.DatabaseError), db_session.begin_nested():
        db_session.execute(sa.text(statement), params)


def test_a_sealed_election_keeps_its_schedule(db_session, clock):
    now = clock()
    election = make_election(db_session, now)
    later = election.voting_closes + timedelta(hours=1)
    db_session.execute(
        sa.text("UPDATE election SET voting_closes = :t WHERE id = :id"),
        {"t": later, "id": election.id},
    )  # before the seal the database leaves it to the service's checks
    db_session.add(BoardSeal(election_id=election.id, sealed_at=now, seal="{}"))
    db_session.flush()
    for column in ("nomination_opens", "nomination_closes", "voting_opens", "voting_closes"):
        refused(
            db_session,
            f"UPDATE election SET {column} = :t WHERE id = :id",  # noqa: S608 - fixed names
            t=later + timedelta(days=1) if column == "voting_closes" else now,
            id=election.id,
        )
    refused(db_session, "UPDATE election SET reminder_hours = '[1]' WHERE id = :id", id=election.id)
    db_session.execute(
        sa.text("UPDATE election SET title = 'Ny titel' WHERE id = :id"), {"id": election.id}
    )


def test_a_frozen_roll_takes_additions_only(db_session, clock):
    now = clock()
    election = make_election(db_session, now)
    contest = election.contests[0]
    first = make_member(db_session, contest.krets_code, "Ada", "Ett", now)
    second = make_member(db_session, contest.krets_code, "Bo", "Två", now)
    db_session.add(RollFreeze(election_id=election.id, frozen_at=now, roll_hash="0" * 64))
    entry = {"election_id": election.id, "contest_id": contest.id, "added_at": now}
    db_session.add(RollEntry(member_id=first.member_id, source="freeze", **entry))
    db_session.flush()
    db_session.add(RollEntry(member_id=second.member_id, source="committee", **entry))
    db_session.flush()  # `roll add` inserts
    refused(db_session, "UPDATE roll_entry SET source = 'committee'")
    refused(db_session, "DELETE FROM roll_entry")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(RollEntry)) == 2


def test_a_link_can_be_revoked_but_keeps_its_token_and_member(db_session, clock):
    now = clock()
    election = make_election(db_session, now)
    member = make_member(db_session, election.contests[0].krets_code, "Ada", "Ett", now)
    other = make_member(db_session, election.contests[0].krets_code, "Bo", "Två", now)
    link = VoterLink(
        election_id=election.id, member_id=member.member_id, token_hash="a" * 64, created_at=now
    )
    db_session.add(link)
    db_session.flush()
    refused(db_session, "UPDATE voter_link SET token_hash = :h", h="b" * 64)
    refused(db_session, "UPDATE voter_link SET member_id = :m", m=other.member_id)
    db_session.execute(sa.text("UPDATE voter_link SET revoked_at = :t"), {"t": now})
