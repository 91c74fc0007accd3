"""The committee's postal pages: four eyes on envelopes, keyboard entry, resolution."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from tests.ballot.conftest import AFTER
from voting.db import db
from voting.log.models import AuditEntry
from voting.postal.models import COUNTED, SET_ASIDE, PostalEnvelope

PAGE = "/admin/val/val-2027/post"


def _status(member_id: str) -> str | None:
    status = db.session.scalar(
        select(PostalEnvelope.status).where(PostalEnvelope.member_id == member_id)
    )
    db.session.rollback()
    return status


def test_register_then_a_second_member_confirms(postal, client, login_as, voter_client):
    voting = postal.voting
    voter_client(voting.tokens["B2"]).vote(
        voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][:1]
    )
    first = login_as("committee")
    for member_id in ("S4", "B2"):
        done = client.post(f"{PAGE}/registrera", data={"envelope-member_id": member_id})
        assert done.status_code == 302
    page = client.get(PAGE).get_data(as_text=True)
    assert "registrerat av dig" in page
    own = client.post(f"{PAGE}/bekrafta", data={"member_id": "S4"})
    assert own.status_code == 409
    assert "en annan ledamot måste göra detta" in own.get_data(as_text=True)
    assert _status("S4") == "pending"
    second = login_as("committee")
    assert second != first
    assert client.post(f"{PAGE}/bekrafta", data={"member_id": "S4"}).status_code == 302
    assert _status("S4") == COUNTED
    client.post(f"{PAGE}/bekrafta", data={"member_id": "B2"})
    assert _status("B2") == SET_ASIDE
    page = client.get(PAGE).get_data(as_text=True)
    assert "redan röstat digitalt" in page
    twice = client.post(f"{PAGE}/registrera", data={"envelope-member_id": "S4"})
    assert twice.status_code == 409
    not_postal = client.post(f"{PAGE}/registrera", data={"envelope-member_id": "S1"})
    assert "röstkanal är inte poströst" in not_postal.get_data(as_text=True)
    bodies = db.session.scalars(
        select(AuditEntry.body).where(AuditEntry.type.like("postal.%"))
    ).all()
    assert {json.loads(b)["data"]["by"] for b in bodies} == {first, second}


def test_a_batch_is_entered_twice_by_keyboard_and_accepted(postal, client, login_as, clock):
    login_as("committee")
    for member_id in ("S3", "S4"):
        client.post(f"{PAGE}/registrera", data={"envelope-member_id": member_id})
    login_as("committee")
    for member_id in ("S3", "S4"):
        client.post(f"{PAGE}/bekrafta", data={"member_id": member_id})
    contest = postal.voting.contests["SODERMALM"]
    small = client.post(f"{PAGE}/omgang", data={"batch-contest": contest, "batch-envelopes": 2})
    assert small.status_code == 409
    clock.set(AFTER)
    login_as("committee")  # the admin session ended with the jump in time
    opened = client.post(f"{PAGE}/omgang", data={"batch-contest": contest, "batch-envelopes": 2})
    assert opened.status_code == 302
    batch_url = opened.headers["Location"]
    page = client.get(batch_url).get_data(as_text=True)
    assert "exakt 2 kryss" in page
    assert re.search(r'name="entry-position"[^>]*value="1"', page)
    assert "autofocus" in page
    client.post(f"{batch_url}/mata-in", data={"entry-position": 1, "entry-marks": "1 2"})
    page = client.get(batch_url).get_data(as_text=True)
    assert re.search(r'name="entry-position"[^>]*value="2"', page)  # on to the next
    client.post(f"{batch_url}/mata-in", data={"entry-position": 2, "entry-marks": "x"})
    typo = client.post(f"{batch_url}/mata-in", data={"entry-position": 1, "entry-marks": "9"})
    assert typo.status_code == 409
    assert "inte ett kandidatnummer" in typo.get_data(as_text=True)
    login_as("committee")
    client.post(f"{batch_url}/mata-in", data={"entry-position": 1, "entry-marks": "1 2"})
    client.post(f"{batch_url}/mata-in", data={"entry-position": 2, "entry-marks": "2 3"})
    blocked = client.post(f"{batch_url}/godkann")
    assert blocked.status_code == 409
    page = blocked.get_data(as_text=True)
    assert re.search(r'id="postal-mismatch">2<', page)
    resolved = client.post(f"{batch_url}/los", data={"resolve-position": 2, "resolve-marks": "x"})
    assert resolved.status_code == 302
    accepted = client.post(f"{batch_url}/godkann")
    assert accepted.status_code == 302
    page = client.get(PAGE).get_data(as_text=True)
    assert "1 giltiga och 1 ogiltiga" in page
    assert "godkänd" in page
