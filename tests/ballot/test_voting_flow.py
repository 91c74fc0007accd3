"""Roll, links, signing and casting through the real API, end to end in-process."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from ballots.ballot import b64url_decode, b64url_encode
from ballots.errors import ApiError
from voting.ballot.models import Ballot, RollEntry, SignatureIssued, VoterLink
from voting.db import db
from voting.log.models import AuditEntry

from .conftest import AFTER, BEFORE, DURING


def test_roll_is_frozen_with_hash_and_sizes(voting):
    assert db.session.scalar(select(func.count()).select_from(RollEntry)) == 6
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.type == "roll.frozen")).one()
    data = json.loads(entry.body)["data"]
    assert {c["krets"]: c["size"] for c in data["contests"]} == {"BROMMA": 2, "SODERMALM": 4}
    assert len(data["roll_hash"]) == 64
    assert "S1" not in entry.body  # members appear only as pseudonyms


def test_tokens_are_stored_only_as_hashes(voting):
    hashes_ = set(db.session.scalars(select(VoterLink.token_hash)))
    assert len(hashes_) == 6
    for token in voting.tokens.values():
        assert len(token) >= 22  # 128 bits or more, base64url
        assert token not in hashes_


def test_opening_the_link_drops_the_token_from_the_url(client, voting):
    response = client.get(f"/rosta/{voting.tokens['S1']}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/rosta")
    page = client.get("/rosta")
    assert page.status_code == 200
    assert "Södermalm" in page.get_data(as_text=True)
    assert client.get("/rosta/not-a-token").status_code == 403


def test_vote_end_to_end_with_receipt_and_board(client, voting, voter_client, clock):
    voter = voter_client(voting.tokens["S1"])
    receipt = voter.vote(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )
    manifest = client.get(f"/api/v1/elections/{voting.slug}/manifest").get_json()
    log_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(manifest["log_key"]))
    signed = {k: receipt[k] for k in ("ballot_hash", "contest", "election")}
    log_key.verify(
        base64.b64decode(receipt["server_signature"]),
        json.dumps(signed, sort_keys=True, separators=(",", ":")).encode(),
    )
    board = client.get(f"/api/v1/elections/{voting.slug}/board").get_json()
    soder = next(c for c in board["contests"] if c["krets"] == "SODERMALM")
    assert soder["ballot_hashes"] == [receipt["ballot_hash"]]
    assert "ballots" not in soder
    # After the close: the ballots themselves, each verifying under the manifest's key.
    clock.set(AFTER)
    board = client.get(f"/api/v1/elections/{voting.slug}/board").get_json()
    soder = next(c for c in board["contests"] if c["krets"] == "SODERMALM")
    assert soder["signatures_issued"] == 1
    spki = next(c for c in manifest["contests"] if c["krets"]["code"] == "SODERMALM")[
        "public_key_spki"
    ]
    public = serialization.load_der_public_key(base64.b64decode(spki))
    for ballot in soder["ballots"]:
        public.verify(
            b64url_decode(ballot["signature"]),
            b64url_decode(ballot["msg_prefix"]) + ballot["ballot"].encode(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
            hashes.SHA384(),
        )


def test_second_vote_through_the_same_link_is_refused(voting, voter_client):
    voter = voter_client(voting.tokens["B1"])
    voter.vote(voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][:1])
    with pytest.raises(ApiError) as exc:
        voter_client(voting.tokens["B1"]).vote(
            voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][1:]
        )
    assert exc.value.status == 409
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 1


def test_same_blinded_message_gets_the_same_signature(client, voting):
    contest = voting.contests["BROMMA"]
    blinded = b64url_encode(b"\x01" * 256)
    headers = {"Authorization": f"Bearer {voting.tokens['B2']}"}
    first = client.post(
        f"/api/v1/contests/{contest}/blind-sign", json={"blinded_msg": blinded}, headers=headers
    )
    again = client.post(
        f"/api/v1/contests/{contest}/blind-sign", json={"blinded_msg": blinded}, headers=headers
    )
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    other = client.post(
        f"/api/v1/contests/{contest}/blind-sign",
        json={"blinded_msg": b64url_encode(b"\x02" * 256)},
        headers=headers,
    )
    assert other.status_code == 409
    assert other.get_json()["error"] == "already_signed"
    assert db.session.scalar(select(func.count()).select_from(SignatureIssued)) == 1


def test_signature_from_one_krets_is_refused_in_another(client, voting, voter_client):
    voter = voter_client(voting.tokens["B1"])
    signed = voter.sign_ballot(
        voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][:1]
    )
    # Re-address the Bromma-signed ballot to Södermalm: the ballot names the wrong contest...
    response = client.post(
        f"/api/v1/contests/{voting.contests['SODERMALM']}/ballots", json=signed.body()
    )
    assert response.status_code == 400
    # ...and even a Södermalm-shaped ballot carrying the Bromma signature fails verification.
    from ballots.ballot import canonical_ballot, new_nonce

    ballot = canonical_ballot(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2], new_nonce()
    )
    body = {**signed.body(), "ballot": ballot}
    response = client.post(f"/api/v1/contests/{voting.contests['SODERMALM']}/ballots", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_signature"
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0


def test_member_cannot_get_a_signature_in_another_krets(client, voting):
    response = client.post(
        f"/api/v1/contests/{voting.contests['SODERMALM']}/blind-sign",
        json={"blinded_msg": b64url_encode(b"\x01" * 256)},
        headers={"Authorization": f"Bearer {voting.tokens['B1']}"},
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "wrong_krets"


def test_identical_cast_again_gets_200_and_the_same_receipt(client, voting, voter_client):
    voter = voter_client(voting.tokens["S2"])
    signed = voter.sign_ballot(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][1:]
    )
    url = f"/api/v1/contests/{voting.contests['SODERMALM']}/ballots"
    first = client.post(url, json=signed.body())
    again = client.post(url, json=signed.body())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()


def test_no_audit_entry_during_voting_mentions_a_ballot(client, voting, voter_client, clock):
    receipt = voter_client(voting.tokens["S3"]).vote(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )
    bodies = " ".join(db.session.scalars(select(AuditEntry.body)))
    assert receipt["ballot_hash"] not in bodies
    clock.set(AFTER)
    result = client.application.test_cli_runner().invoke(args=["board", "seal", voting.slug])
    assert result.exit_code == 0, result.output
    sealed = db.session.scalars(select(AuditEntry).where(AuditEntry.type == "board.sealed")).one()
    data = json.loads(sealed.body)["data"]
    soder = next(c for c in data["contests"] if c["krets"] == "SODERMALM")
    assert (soder["ballots"], soder["signatures_issued"], soder["roll_size"]) == (1, 1, 4)
    board = client.get(f"/api/v1/elections/{voting.slug}/board").get_json()
    assert (
        next(c for c in board["contests"] if c["krets"] == "SODERMALM")["board_hash"]
        == soder["board_hash"]
    )
    again = client.application.test_cli_runner().invoke(args=["board", "seal", voting.slug])
    assert again.exit_code != 0
    assert "already sealed" in again.output


def test_ballot_table_has_no_member_or_time_column(app):
    columns = set(Ballot.__table__.columns.keys())
    assert columns == {"ballot_hash", "contest_id", "ballot", "msg_prefix", "signature"}


def test_page_shows_when_a_signature_was_issued(client, voting, voter_client, clock):
    voter_client(voting.tokens["B2"]).vote(
        voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][:1]
    )
    client.get(f"/rosta/{voting.tokens['B2']}")
    clock.set(AFTER)  # a member can still check after the close
    page = client.get("/rosta").get_data(as_text=True)
    assert "Du har röstat den 15 januari 2027." in page  # the day of DURING; no time is kept
    assert "13:00" not in page


def test_voting_window_is_enforced(client, voting, voter_client, clock):
    for moment in (BEFORE, AFTER):
        clock.set(moment)
        response = client.post(
            f"/api/v1/contests/{voting.contests['BROMMA']}/blind-sign",
            json={"blinded_msg": b64url_encode(b"\x01" * 256)},
            headers={"Authorization": f"Bearer {voting.tokens['B1']}"},
        )
        assert response.status_code == 403
        assert response.get_json()["error"] == "window_closed"
    clock.set(DURING)
    signed = voter_client(voting.tokens["B1"]).sign_ballot(
        voting.slug, voting.contests["BROMMA"], voting.candidates["BROMMA"][:1]
    )
    clock.set(AFTER)
    response = client.post(
        f"/api/v1/contests/{voting.contests['BROMMA']}/ballots", json=signed.body()
    )
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0


def test_resend_revokes_the_old_link(runner, client, voting):
    result = runner.invoke(args=["links", "resend", voting.slug, "S4"])
    assert result.exit_code == 0, result.output
    response = client.post(
        f"/api/v1/contests/{voting.contests['SODERMALM']}/blind-sign",
        json={"blinded_msg": b64url_encode(b"\x01" * 256)},
        headers={"Authorization": f"Bearer {voting.tokens['S4']}"},
    )
    assert response.status_code == 401


def test_remind_mails_only_non_voters(runner, voting, voter_client):
    voter_client(voting.tokens["S1"]).vote(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )
    result = runner.invoke(args=["links", "remind", voting.slug])
    assert result.exit_code == 0, result.output
    assert "Queued 5 reminders." in result.output


def test_manifest_follows_a_schedule_change(client, voting, clock):
    from voting.elections.services import get_election
    from voting.lifecycle.schedule import reschedule

    url = f"/api/v1/elections/{voting.slug}/manifest"
    first = client.get(url).get_json()
    from voting.ballot import services

    with db.transaction() as s:
        mine = services.manifest(s, get_election(s, voting.slug))
        mine["contests"].clear()  # each caller gets its own copy: the cached one is untouched
        assert services.manifest(s, get_election(s, voting.slug)) == first
    with db.transaction() as s:
        reschedule(
            s,
            get_election(s, voting.slug),
            {"voting_closes": "2030-01-31T12:00"},
            DURING,
            by="cli",
        )
    later = client.get(url).get_json()
    assert later["voting_closes"] != first["voting_closes"]
    assert later["voting_closes"].startswith("2030-01-31T11:00")  # 12:00 in Stockholm, UTC


@pytest.mark.parametrize(
    ("moment", "shown", "hidden"),
    [
        (BEFORE, "Röstningen har inte öppnat än.", "Röstningen är stängd."),
        (AFTER, "Röstningen är stängd.", "Röstningen har inte öppnat än."),
        (DURING, "Röstningen är öppen från", "Röstningen är stängd."),
    ],
)
def test_ballot_page_says_which_side_of_the_window_it_is(
    client, voting, clock, moment, shown, hidden
):
    client.get(f"/rosta/{voting.tokens['B1']}")
    clock.set(moment)
    page = client.get("/rosta").get_data(as_text=True)
    assert shown in page
    assert hidden not in page
    if moment != DURING:
        assert "Röstningen är öppen från" not in page  # no "open" line above "closed"


def test_no_new_link_for_a_member_who_has_voted(runner, client, voting, voter_client):
    voter_client(voting.tokens["S2"]).vote(
        voting.slug, voting.contests["SODERMALM"], voting.candidates["SODERMALM"][:2]
    )
    links_before = db.session.scalar(select(func.count()).select_from(VoterLink))
    result = runner.invoke(args=["links", "resend", voting.slug, "S2"])
    assert result.exit_code != 0
    assert "already voted" in result.output
    assert db.session.scalar(select(func.count()).select_from(VoterLink)) == links_before
    # Their own link still opens the page that says a signature was issued.
    client.get(f"/rosta/{voting.tokens['S2']}")
    assert "Du kan inte rösta igen." in client.get("/rosta").get_data(as_text=True)
