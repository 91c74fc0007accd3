"""An election with members on each channel (email, letter, postal ballot) run to its record,
which verifies; tampered paper data in it is refused."""

from __future__ import annotations

import copy
import json
import re

from sqlalchemy import select

from auditlog.verify import verify_record
from tests.ballot.conftest import AFTER, BEFORE, DURING, ELECTION, later
from tests.factories import make_staff_quick
from tests.letters.conftest import (
    ADDRESSES,
    CONTACT,
    codes_in,
    pdf_text,
    session_client,
    set_address,
)
from voting.db import db
from voting.elections.services import create_election, get_election
from voting.letters import services as letters
from voting.lifecycle.candidates import publish_candidates
from voting.lifecycle.results import publish_results
from voting.lifecycle.roll import freeze_roll, send_links
from voting.lifecycle.seal import seal_board
from voting.lifecycle.tally import tally
from voting.mail.models import OutboxMessage
from voting.mail.services import message_body
from voting.members.models import Channel, Member
from voting.nominations.models import Nomination, NominationStatus
from voting.postal import services
from voting.postal.models import COUNTED, SET_ASIDE

SEED = "blå kula 3"
BASE_URL = "http://localhost"
# member id: (first, last, krets, channel, email?)
MEMBERS = {
    "S1": ("Anna", "Berg", "SODERMALM", Channel.EMAIL, True),
    "S2": ("Bo", "Åberg", "SODERMALM", Channel.EMAIL, True),
    "S3": ("Cecilia", "Dahl", "SODERMALM", Channel.POSTAL, False),
    "S4": ("David", "Ek", "SODERMALM", Channel.LETTER, False),
    "B1": ("Eva", "Falk", "BROMMA", Channel.EMAIL, True),
    "B2": ("Filip", "Gran", "BROMMA", Channel.POSTAL, True),
}


def _failed(record: dict) -> list[str]:
    return [c.name for c in verify_record(record, workers=1) if not c.ok]


def _setup(clock) -> tuple[dict[str, str], dict[str, list[str]], dict[str, str], bytes]:
    """Published with real keys and logged lists, the roll frozen, letters made, links sent."""
    clock.set(BEFORE)
    with db.transaction() as s:
        election = create_election(s, ELECTION, BEFORE, by="cli")
        s.flush()
        contests = {c.krets_code: c for c in election.contests}
        for member_id, (first, last, krets, channel, email) in MEMBERS.items():
            member = Member(
                member_id=member_id,
                first_name=first,
                last_name=last,
                email=f"{member_id}@example.org" if email else None,
                krets_code=krets,
                channel=channel.value,
                updated_at=BEFORE,
            )
            set_address(member, ADDRESSES["S4"])
            s.add(member)
            s.flush()
            if member_id in ("S1", "S2", "S3", "B1", "B2"):
                s.add(
                    Nomination(
                        election_id=election.id,
                        contest_id=contests[krets].id,
                        member_id=member_id,
                        status=NominationStatus.APPROVED,
                        created_at=BEFORE,
                    )
                )
        s.flush()
        candidates = {
            item["krets"]: item["candidates"]
            for item in publish_candidates(s, election, BEFORE, key_bits=2048)
        }
        freeze_roll(s, election, BEFORE, by="cli")
        issued = letters.issue_letters(s, election, BEFORE, BASE_URL, CONTACT, by="scheduler")
        assert issued.batch is not None
        pdf = letters.download(s, election, issued.batch.id, BEFORE, by="cli")
        # B2 moves to the postal channel only after the links went out (a postal member is
        # sent no link), so they hold one: their envelope then meets an online vote.
        s.get_one(Member, "B2").channel = Channel.EMAIL.value
        send_links(s, election, BEFORE, BASE_URL, by="cli")
        s.get_one(Member, "B2").channel = Channel.POSTAL.value
        contest_ids = {code: str(c.id) for code, c in contests.items()}
    tokens = {}
    for message in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "voter_link")
    ):
        body = message_body(message) or ""
        tokens[message.to_addr.split("@")[0]] = body.split(f"{BASE_URL}/rosta/", 1)[1].split()[0]
    db.session.rollback()
    return contest_ids, candidates, tokens, pdf


def test_every_channel_runs_to_a_record_that_verifies(
    app, clock, smtp, client, runner, tmp_path, voter_client
):
    contests, candidates, tokens, pdf = _setup(clock)
    slug = "val-2027"
    clock.set(DURING)
    with db.transaction() as s:
        a, b = (make_staff_quick(s, "committee", DURING).id for _ in range(2))
    # Email: a link. Letter: the code typed into /rosta/kod.
    voter_client(tokens["S1"]).vote(slug, contests["SODERMALM"], candidates["SODERMALM"][:2])
    (code,) = codes_in(pdf)
    assert client.post("/rosta/kod", data={"code": code}).status_code == 302
    session_client(client).vote(slug, contests["SODERMALM"], candidates["SODERMALM"][1:3])
    # B2 votes online, then their postal envelope arrives too: it is set aside.
    voter_client(tokens["B2"]).vote(slug, contests["BROMMA"], candidates["BROMMA"][:1])
    with db.transaction() as s:
        election = get_election(s, slug)
        for member_id in ("S3", "B2"):
            services.register_envelope(s, election, member_id, clock(), by=a)
        statuses = [
            services.confirm_envelope(s, election, m, clock(), by=b).status for m in ("S3", "B2")
        ]
    assert statuses == [COUNTED, SET_ASIDE]
    clock.set(AFTER)
    with db.transaction() as s:
        seal_board(s, get_election(s, slug), clock(), by="cli")
    with db.transaction() as s:
        election = get_election(s, slug)
        contest = int(contests["SODERMALM"])
        batch = services.open_batch(s, election, contest, 1, clock(), batch_min=20, by=a)
        services.enter_ballot(s, election, batch.id, 1, "1 2", clock(), by=a)
        services.enter_ballot(s, election, batch.id, 1, "1 3", clock(), by=b)
        services.resolve_ballot(s, election, batch.id, 1, "1 3", clock(), by=a)
        services.accept_batch(s, election, batch.id, clock(), by=b)
    clock.set(later(AFTER, hours=2))
    with db.transaction() as s:
        result = tally(s, get_election(s, slug), SEED, clock(), by="cli")
    sodermalm = next(c for c in result["contests"] if c["krets"] == "SODERMALM")
    assert (sodermalm["ballots_cast"], sodermalm["paper_ballots"]) == (2, 1)
    assert sodermalm["signatures_issued"] == 3
    # The results page and the protocol show online and paper votes apart and together.
    with db.transaction() as s:
        publish_results(s, get_election(s, slug), clock(), by="cli")
    page = client.get(f"/val/{slug}/resultat").get_data(as_text=True)
    assert "Poströster: 1 giltiga och 0 ogiltiga. Digitala röstsedlar: 2." in page
    assert "Giltiga röstsedlar sammanlagt: 3." in page
    first = candidates["SODERMALM"][0]
    name = db.session.get_one(Nomination, int(first)).member.full_name
    db.session.rollback()
    row = re.search(rf"<td>{name}</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", page)
    assert row is not None
    online, paper, total = map(int, row.groups())
    assert paper == 1
    assert online + paper == total
    protocol = pdf_text(client.get(f"/val/{slug}/protokoll.pdf").get_data())
    joined = " ".join(protocol)
    assert "Poströster: 1 giltiga och 0 ogiltiga" in joined
    assert "Digitalt" in joined
    path = tmp_path / "record.json"
    exported = runner.invoke(args=["election", "export", slug, "-o", str(path)])
    assert exported.exit_code == 0, exported.output
    record = json.loads(path.read_text(encoding="utf-8"))
    assert [c for c in verify_record(record, workers=1) if not c.ok] == []
    listed = {c["krets"]: c for c in record["contests"]}
    assert listed["SODERMALM"]["postal_envelopes"] == 1
    assert listed["BROMMA"]["postal_set_aside"] == 1
    assert len(listed["SODERMALM"]["paper_ballots"]) == 1
    assert len(listed["SODERMALM"]["issued_codes"]) == 3  # the paper voter's code is there

    # Tampered paper data is refused: a ballot added, a count raised, an envelope count lowered.
    added = copy.deepcopy(record)
    item = next(c for c in added["contests"] if c["krets"] == "SODERMALM")
    item["paper_ballots"].append(list(item["paper_ballots"][0]))
    assert "paper ballots" in _failed(added)
    raised = copy.deepcopy(record)
    counted = next(c for c in raised["tally"]["results"]["contests"] if c["krets"] == "SODERMALM")
    counted["paper_ballots"] += 1
    assert "recount" in _failed(raised)
    lowered = copy.deepcopy(record)
    next(c for c in lowered["contests"] if c["krets"] == "SODERMALM")["postal_envelopes"] = 0
    assert "paper ballots" in _failed(lowered)
