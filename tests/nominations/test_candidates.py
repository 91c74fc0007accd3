"""The public candidate lists: only published lists, only approved candidates."""

from __future__ import annotations

import io

from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.nominations.conftest import (
    DURING,
    SLUG,
    add_member,
    image_bytes,
    mails,
    nominate_and_confirm,
    open_as_nominee,
    rows,
)
from voting.db import db
from voting.elections.models import Contest, Election
from voting.nominations.models import Nomination, NominationStatus

URL = f"/val/{SLUG}/kandidater"


def _accept_with_presentation(client, to, text, photo=False):
    open_as_nominee(client, to)
    client.post("/kandidat", data={"accept": "1"})
    values = MultiDict(
        {"text": text, "link_1": "https://example.org/" + to.split("@")[0], "save": "1"}
    )
    if photo:
        values.add("photo", FileStorage(io.BytesIO(image_bytes("PNG", (40, 40))), "p.png"))
    boundary, body = encode_multipart(values)
    response = client.post(
        "/kandidat", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 302


def _set(status_by_member, published=None, contest_hash=None):
    """Stand in for the committee: set statuses, and publish all lists or one contest's."""
    with db.transaction() as s:
        for nomination in s.scalars(select(Nomination)):
            if nomination.member_id in status_by_member:
                nomination.status = status_by_member[nomination.member_id]
        if published:
            s.get(Election, nomination.election_id).candidates_published_at = published
        if contest_hash:
            contest = s.scalars(select(Contest).where(Contest.krets_code == contest_hash)).one()
            contest.list_hash = "0" * 64
    db.session.close()


def _three_candidates(app, client, register):
    with db.transaction() as s:
        add_member(s, "2001", "Åsa", "Öberg", "asa@example.org", "SODERMALM")
        add_member(s, "2002", "Per", "Norr", "per@example.org", "NORRMALM")
    db.session.close()
    nominate_and_confirm(client)  # Karl Johan Berg
    nominate_and_confirm(
        client, nominee_first_name="Åsa", nominee_last_name="Öberg", nominee_identifier="2001"
    )
    nominate_and_confirm(
        client,
        nominator_email="olle@example.org",
        nominee_first_name="Per",
        nominee_last_name="Norr",
        nominee_identifier="2002",
    )
    _accept_with_presentation(
        app.test_client(), "karl@example.org", "Karl om sig själv", photo=True
    )
    _accept_with_presentation(app.test_client(), "asa@example.org", "Åsa om sig själv")
    _accept_with_presentation(app.test_client(), "per@example.org", "Per om sig själv")


def test_nothing_before_publication(app, client, register):
    _three_candidates(app, client, register)
    _set({"1002": NominationStatus.APPROVED})
    page = client.get(URL)
    assert page.status_code == 200
    assert "inte publicerade ännu" in page.text
    assert "Karl" not in page.text
    [karl] = rows(Nomination, Nomination.member_id == "1002")
    assert app.test_client().get(f"/kandidat/foto/{karl.id}.jpg").status_code == 404


def test_published_list_shows_only_approved_candidates(app, client, register):
    _three_candidates(app, client, register)
    _set(
        {"1002": NominationStatus.APPROVED, "2001": NominationStatus.REJECTED},
        published=DURING,
    )
    page = client.get(URL)
    assert page.status_code == 200
    html = page.text
    assert "Karl Johan Berg" in html
    assert "Karl om sig själv" in html
    assert 'href="https://example.org/karl"' in html
    assert 'rel="nofollow noopener noreferrer ugc"' in html
    assert "Åsa" not in html  # rejected
    assert "Per Norr" not in html  # awaiting review
    assert "Södermalm" in html
    assert "Norrmalm" in html
    [karl] = rows(Nomination, Nomination.member_id == "1002")
    assert f"/kandidat/foto/{karl.id}.jpg" in html
    photo = app.test_client().get(f"/kandidat/foto/{karl.id}.jpg")
    assert photo.status_code == 200
    assert photo.mimetype == "image/jpeg"


def test_one_contest_published_by_its_list_hash(app, client, register):
    _three_candidates(app, client, register)
    _set(
        {
            "1002": NominationStatus.APPROVED,
            "2001": NominationStatus.APPROVED,
            "2002": NominationStatus.APPROVED,
        },
        contest_hash="NORRMALM",
    )
    html = client.get(URL).text
    assert "Per Norr" in html
    assert "Karl" not in html
    assert "Åsa" not in html


def test_candidates_are_in_swedish_alphabetical_order(app, client, register):
    _three_candidates(app, client, register)
    _set(
        {"1002": NominationStatus.APPROVED, "2001": NominationStatus.APPROVED},
        published=DURING,
    )
    html = client.get(URL).text
    assert html.index("Karl Johan Berg") < html.index("Åsa Öberg")


def test_unknown_election(client, register):
    assert client.get("/val/okand/kandidater").status_code == 404


def test_nominee_mail_count(app, client, register):
    """Each of the three nominees was mailed exactly once, whatever the nominators did."""
    _three_candidates(app, client, register)
    for address in ("karl@example.org", "asa@example.org", "per@example.org"):
        assert len([b for _s, b in mails(address) if "/kandidat/" in b]) == 1
