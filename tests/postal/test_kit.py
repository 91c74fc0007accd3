"""The postal kit: per member a letter with the address in the C5 window and the return
instructions, then the paper ballot of their krets, which names no member."""

from __future__ import annotations

import io
import stat

from pypdf import PdfReader

from tests.ballot.conftest import BEFORE
from tests.letters.conftest import ADDRESSES, pdf_text, set_address
from tests.letters.test_pdf import _positions
from voting.db import db
from voting.elections.services import get_election
from voting.members.models import Member
from voting.postal import kit, services

CONTACT = {"name": "Valberedningen i Distrikt Test", "email": "val@example.org", "phone": None}


def _addresses(postal) -> None:
    with db.transaction() as s:
        set_address(s.get_one(Member, "S3"), ADDRESSES["S4"])
        set_address(s.get_one(Member, "B2"), ADDRESSES["B2"])


def _pdf(postal, clock) -> tuple[bytes, int, dict[str, int]]:
    _addresses(postal)
    with db.transaction() as s:
        made = kit.kits_pdf(
            s, get_election(s, postal.slug), clock(), "http://localhost", CONTACT, by="cli"
        )
    db.session.rollback()
    return made


def test_a_letter_and_a_ballot_per_postal_member(postal, clock):
    pdf, count, skipped = _pdf(postal, clock)
    assert count == 2
    assert skipped == {"no_address": 1}  # S4 has no address in the register
    pages = [" ".join(t.split()) for t in pdf_text(pdf)]
    assert len(pages) == 4
    letter_b2, ballot_b2, letter_s3, ballot_s3 = pages  # ordered by krets, then name
    assert "Du kan poströsta i Kongressombudsval 2027" in letter_s3
    assert "Markera exakt 2 namn" in letter_s3
    assert "medlemsnummer S3 på ytterkuvertet" in letter_s3
    assert "senast 2027-01-25 kl. 23.59 (svensk tid)" in letter_s3
    assert "läggs ditt kuvert åt sidan oöppnat" in letter_s3
    assert "Din väljarkod" in letter_s3
    assert "Markera minst 1 och högst 2 namn" in letter_b2
    # The ballot: the krets, the rule, the candidates numbered in published order, no member.
    election = get_election(db.session, postal.slug)
    sodermalm = next(c for c in election.contests if c.krets_code == "SODERMALM")
    names = [
        n.member.full_name for n in services.ballot.published_candidates(db.session, sodermalm)
    ]
    assert "Röstsedel" in ballot_s3
    assert "Krets: Södermalm" in ballot_s3
    assert "Markera exakt 2 namn" in ballot_s3
    positions = [ballot_s3.index(f"{i}. {name}") for i, name in enumerate(names, start=1)]
    assert positions == sorted(positions)
    for ballot in (ballot_s3, ballot_b2):
        assert "Cecilia Dahl S3" not in ballot
        assert "S3" not in ballot
        assert "B2" not in ballot
        assert "Filip Gran Brommaplan" not in ballot


def test_the_kit_address_sits_in_the_c5_window(postal, clock):
    pdf, _count, _skipped = _pdf(postal, clock)
    reader = PdfReader(io.BytesIO(pdf))
    letter = _positions(reader.pages[2])  # S3's letter
    for line in ("Cecilia Dahl", "Hornsgatan 1", "118 20  STOCKHOLM"):
        x, y = letter[line]
        assert 24 <= x <= 26, (line, x)
        assert 50 <= y <= 86, (line, y)


def test_the_cli_and_the_page_give_the_kits(postal, clock, runner, tmp_path, client, login_as):
    _addresses(postal)
    out = tmp_path / "kits.pdf"
    done = runner.invoke(args=["postal", "kits", postal.slug, "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "Wrote 2 postal kits" in done.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = runner.invoke(args=["postal", "kits", postal.slug, "-o", str(out)])
    assert again.exit_code != 0
    assert "exists already" in again.output
    login_as("committee")
    response = client.post(f"/admin/val/{postal.slug}/post/utskick.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert len(pdf_text(response.get_data())) == 4
    assert clock() > BEFORE


def test_a_member_who_voted_gets_no_kit(postal, clock, voter_client):
    voting = postal.voting
    voter_client(voting.tokens["B2"]).vote(
        voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][:1]
    )
    _pdf_bytes, count, skipped = _pdf(postal, clock)
    assert count == 1
    assert skipped == {"no_address": 1, "voted": 1}
