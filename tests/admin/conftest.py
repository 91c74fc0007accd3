"""Fixtures for the committee's side: a seeded election and logged-in clients per role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from tests.factories import make_election, make_member, make_nomination
from voting.db import db
from voting.members.models import Forening
from voting.nominations.models import NominationStatus


@dataclass
class Seed:
    slug: str
    awaiting: int  # accepted by the nominee, awaiting review (SODERMALM)
    approved: int  # BROMMA
    unanswered: int  # awaiting the nominee (SODERMALM)
    nominee_email: str
    nominee_name: str


@pytest.fixture
def seed(app, clock) -> Seed:
    return make_seed(clock())


def make_seed(now: datetime) -> Seed:
    """An election in its nomination period, three nominations, the nominators; in the app's db."""
    with db.transaction() as s:
        election = make_election(s, now)
        nominator = make_member(s, "SODERMALM", "Nora", "Nominerare", now)
        forening = Forening(name="S-föreningen Söder", krets_code="SODERMALM")
        s.add(forening)
        s.flush()
        anna = make_member(s, "SODERMALM", "Anna", "Åberg", now, email="anna@example.org")
        awaiting = make_nomination(s, election, anna, now, nominators=[nominator, forening])
        bo = make_member(s, "BROMMA", "Bo", "Berg", now)
        approved = make_nomination(
            s, election, bo, now, status=NominationStatus.APPROVED, nominators=[bo]
        )
        cia = make_member(s, "SODERMALM", "Cia", "Ceder", now)
        unanswered = make_nomination(
            s, election, cia, now, status=NominationStatus.AWAITING_NOMINEE, nominators=[nominator]
        )
        result = Seed(
            slug=election.slug,
            awaiting=awaiting.id,
            approved=approved.id,
            unanswered=unanswered.id,
            nominee_email="anna@example.org",
            nominee_name="Anna Åberg",
        )
    return result


def close_nominations(clock) -> datetime:
    """Move the clock past the seeded election's nomination close (and before voting)."""
    clock.set(clock() + timedelta(days=2))
    return clock()
