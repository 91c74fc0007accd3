"""An election mid-vote with members on each channel: S3, S4 and B2 vote by postal ballot
(they also hold an emailed link, so a test can make one of them vote online as well)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.ballot.conftest import BEFORE, VotingSetup, setup_voting, voter_client
from tests.factories import make_staff_quick
from voting.db import db
from voting.members.models import Channel, Member

__all__ = ["voter_client"]  # the fixture, for these tests too

POSTAL_MEMBERS = ("S3", "S4", "B2")


@dataclass
class PostalSetup:
    voting: VotingSetup
    staff: list[tuple[int, str]]  # (id, email) of three committee members

    @property
    def slug(self) -> str:
        return self.voting.slug


@pytest.fixture
def postal(app, clock, rsa_keys, smtp) -> PostalSetup:
    voting = setup_voting(app, clock, rsa_keys, "http://localhost")
    with db.transaction() as s:
        for member_id in POSTAL_MEMBERS:
            s.get_one(Member, member_id).channel = Channel.POSTAL.value
        staff = [make_staff_quick(s, "committee", BEFORE) for _ in range(3)]
        ids = [(u.id, u.email) for u in staff]
    db.session.rollback()
    return PostalSetup(voting, ids)
