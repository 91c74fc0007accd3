"""Postal addresses in the member CSV (encrypted at rest) and each member's voting channel."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.members.conftest import HEADER, csv_bytes, member_line
from voting.crypto import decrypt
from voting.log.services import REGISTER_LOG, entries
from voting.members.channels import set_channel, set_channel_by_rule, set_channels_from_csv
from voting.members.errors import RegisterError, RegisterImportError
from voting.members.importing import ADDRESS_PURPOSE, import_members
from voting.members.models import Member

ADDRESS_HEADER = HEADER + ",co,street,postcode,city"


def with_address(line: str, co="", street="", postcode="", city="") -> str:
    return ",".join([line, co, street, postcode, city])


def address_file(*lines: str) -> bytes:
    return csv_bytes(list(lines), header=ADDRESS_HEADER)


def stored_address(session, member_id: str):
    """The raw column as stored, and what it decrypts to."""
    blob = session.execute(
        sa.text("SELECT address_enc FROM member WHERE member_id = :m"), {"m": member_id}
    ).scalar_one()
    if blob is None:
        return None, None
    clear = decrypt(bytes(blob), ADDRESS_PURPOSE, aad=member_id.encode()).decode()
    return bytes(blob), json.loads(clear)


def _import(session, data, clock):
    result = import_members(session, data, clock(), by="cli")
    session.commit()
    return result


def test_an_address_is_stored_encrypted_with_a_normalized_postcode(app, db_session, kretsar, clock):
    data = address_file(
        with_address(member_line("1", email="a@example.org"), "", "Storgatan 1", "12345", "Umeå"),
        with_address(member_line("2"), "c/o Berg", "Lillgatan 2 lgh 1101", "123 45", "Älvsjö"),
        with_address(member_line("3", email="c@example.org")),
    )
    assert _import(db_session, data, clock).inserted == 3
    blob, address = stored_address(db_session, "1")
    assert address == {"co": "", "street": "Storgatan 1", "postcode": "123 45", "city": "Umeå"}
    # Nothing of it in clear at rest.
    for part in (b"Storgatan", "Umeå".encode(), b"12345", b"123 45"):
        assert part not in blob
    assert stored_address(db_session, "2")[1]["co"] == "c/o Berg"
    assert stored_address(db_session, "3") == (None, None)
    # Bound to the member: another member's row cannot carry it.
    with pytest.raises(InvalidTag):
        decrypt(blob, ADDRESS_PURPOSE, aad=b"2")


def test_a_file_without_address_columns_keeps_the_stored_addresses(app, db_session, kretsar, clock):
    _import(
        db_session,
        address_file(with_address(member_line("1"), "", "Storgatan 1", "12345", "Umeå")),
        clock,
    )
    before, _ = stored_address(db_session, "1")
    result = _import(db_session, csv_bytes([member_line("1")]), clock)
    assert (result.updated, result.unchanged) == (0, 1)
    assert stored_address(db_session, "1")[0] == before
    # With the columns, an empty address clears it, and a new one replaces it.
    changed = _import(
        db_session,
        address_file(with_address(member_line("1"), "", "Nygatan 3", "54321", "Kiruna")),
        clock,
    )
    assert changed.updated == 1
    assert stored_address(db_session, "1")[1]["street"] == "Nygatan 3"
    same = _import(
        db_session,
        address_file(with_address(member_line("1"), "", "Nygatan 3", "543 21", "Kiruna")),
        clock,
    )
    assert (same.updated, same.unchanged) == (0, 1)
    _import(db_session, address_file(with_address(member_line("1"))), clock)
    assert stored_address(db_session, "1") == (None, None)


def test_address_errors_name_row_and_field_and_nothing_is_written(app, db_session, kretsar, clock):
    data = address_file(
        with_address(member_line("1"), "", "Storgatan 1", "1234", "Umeå"),
        with_address(member_line("2"), "", "Storgatan 1", "", "Umeå"),
        with_address(member_line("3"), "c/o X", "", "", ""),
        with_address(member_line("4"), "", "Gata\u202e 1", "12345", "Umeå"),
    )
    with pytest.raises(RegisterImportError) as caught:
        _import(db_session, data, clock)
    found = {(e.row, e.field) for e in caught.value.errors}
    assert found == {
        (2, "postcode"),
        (3, "postcode"),
        (4, "street"),
        (4, "postcode"),
        (4, "city"),
        (5, "street"),
    }
    assert "123 45" in next(e.message for e in caught.value.errors if e.row == 2)
    db_session.rollback()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Member)) == 0


def test_a_header_with_only_some_address_columns_is_refused(db_session, kretsar, clock):
    data = csv_bytes([member_line("1") + ",Storgatan 1"], header=HEADER + ",street")
    with pytest.raises(RegisterImportError) as caught:
        _import(db_session, data, clock)
    [error] = caught.value.errors
    assert (error.row, error.field) == (1, "header")
    assert "co,street,postcode,city" in error.message


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(digits=st.text(alphabet="0123456789 -", min_size=0, max_size=8))
def test_only_five_digit_postcodes_are_accepted(db_session, kretsar, clock, digits):
    data = address_file(with_address(member_line("9"), "", "Gatan 1", digits, "Ort"))
    # The cell is read stripped; the rule is NNN NN with the space optional.
    valid = re.fullmatch(r"[0-9]{3} ?[0-9]{2}", digits.strip()) is not None
    if valid:
        import_members(db_session, data, clock(), by="cli")
    else:
        with pytest.raises(RegisterImportError) as caught:
            import_members(db_session, data, clock(), by="cli")
        assert {e.field for e in caught.value.errors} == {"postcode"}
    db_session.rollback()


# --- channels ---------------------------------------------------------------------------


@pytest.fixture
def register(db_session, kretsar, clock):
    data = address_file(
        with_address(member_line("1", email="a@example.org"), "", "Storgatan 1", "12345", "Umeå"),
        with_address(member_line("2"), "", "Lillgatan 2", "12345", "Umeå"),
        with_address(member_line("3")),
        with_address(member_line("4", email="d@example.org")),
    )
    _import(db_session, data, clock)
    return db_session


def _channels(session):
    return dict(session.execute(sa.select(Member.member_id, Member.channel)).all())


def test_everyone_starts_on_email(register):
    assert set(_channels(register).values()) == {"email"}


def test_a_rule_gives_letters_to_those_without_email_and_skips_those_without_address(
    register, clock
):
    # Member 1's address bounced: a usable email is one that has not bounced.
    register.execute(
        sa.update(Member).where(Member.member_id == "1").values(email_bounced_at=clock())
    )
    result = set_channel_by_rule(register, "no-email", "letter", clock(), by=7)
    register.commit()
    assert _channels(register) == {"1": "letter", "2": "letter", "3": "email", "4": "email"}
    assert (result.changed, result.unchanged, result.skipped) == (2, 0, 1)
    [event] = entries(register, REGISTER_LOG, "members.channels_set")
    data = json.loads(event.body)["data"]
    assert data == {
        "changed": 2,
        "unchanged": 0,
        "skipped": 1,
        "channels": {"email": 2, "letter": 2, "postal": 0},
        "by": 7,
    }
    # Counts only: no member's ID in the log.
    assert '"1"' not in event.body
    assert '"2"' not in event.body


def test_one_member_and_a_channel_that_cannot_reach_them(register, clock):
    set_channel(register, "2", "postal", clock(), by="cli")
    assert _channels(register)["2"] == "postal"
    with pytest.raises(RegisterError, match="ingen postadress"):
        set_channel(register, "4", "letter", clock(), by="cli")
    with pytest.raises(RegisterError, match="ingen e-postadress"):
        set_channel(register, "3", "email", clock(), by="cli")
    with pytest.raises(RegisterError, match="Okänd kanal"):
        set_channel(register, "1", "pigeon", clock(), by="cli")
    with pytest.raises(RegisterError, match="Ingen medlem"):
        set_channel(register, "404", "letter", clock(), by="cli")


def test_a_channel_csv_is_all_or_nothing(register, clock):
    bad = csv_bytes(
        ["1,postal", "2,LETTER", "1,email", "404,letter", "3,letter", "4,pigeon"],
        header="member_id,channel",
    )
    with pytest.raises(RegisterImportError) as caught:
        set_channels_from_csv(register, bad, clock(), by="cli")
    assert {(e.row, e.field) for e in caught.value.errors} == {
        (4, "member_id"),
        (5, "member_id"),
        (6, "channel"),
        (7, "channel"),
    }
    register.rollback()
    assert set(_channels(register).values()) == {"email"}
    good = csv_bytes(["1,postal", "2,LETTER"], header="member_id,channel")
    result = set_channels_from_csv(register, good, clock(), by="cli")
    register.commit()
    assert result.changed == 2
    assert _channels(register) == {"1": "postal", "2": "letter", "3": "email", "4": "email"}


def test_the_channel_column_refuses_unknown_values(register):
    with pytest.raises(sa.exc.IntegrityError):
        register.execute(sa.update(Member).values(channel="pigeon"))
    register.rollback()


def test_the_cli_sets_channels(app, register, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["members", "channel", "--rule", "no-email", "--to", "letter"])
    assert result.exit_code == 0, result.output
    assert "changed: 1, unchanged: 0, skipped (no postal or email address): 1" in result.output
    assert "letter: 1" in result.output
    refused = runner.invoke(args=["members", "channel", "--member", "4", "--to", "postal"])
    assert refused.exit_code == 1
    assert "ingen postadress" in refused.output
    usage = runner.invoke(args=["members", "channel", "--member", "4"])
    assert usage.exit_code == 2
    path = tmp_path / "kanaler.csv"
    path.write_bytes(csv_bytes(["3,postal"], header="member_id,channel"))
    bad = runner.invoke(args=["members", "channel", "--csv", str(path)])
    assert bad.exit_code == 1
    assert "row 2, channel" in bad.output


def test_the_member_page_shows_the_address_and_sets_the_channel(client, login, register):
    staff = login("committee")
    page = client.get("/admin/members?member_id=2").get_data(as_text=True)
    assert "Lillgatan 2" in page
    assert "123 45 Umeå" in page
    [checked] = re.findall(r"<input[^>]*\bchecked\b[^>]*>", page)
    assert 'value="email"' in checked
    done = client.post("/admin/members/2/kanal", data={"channel": "postal"})
    assert done.status_code == 302
    assert done.location.endswith("/admin/members?member_id=2")
    register.expire_all()
    assert _channels(register)["2"] == "postal"
    [event] = entries(register, REGISTER_LOG, "members.channels_set")
    assert json.loads(event.body)["data"]["by"] == staff
    # Member 4 has no postal address: refused, with the reason at the field, nothing changed.
    refused = client.post("/admin/members/4/kanal", data={"channel": "letter"})
    assert refused.status_code == 400
    assert "Medlemmen har ingen postadress i registret." in refused.get_data(as_text=True)
    register.expire_all()
    assert _channels(register)["4"] == "email"
    assert client.post("/admin/members/404/kanal", data={"channel": "letter"}).status_code == 404
