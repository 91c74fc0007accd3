"""``voting demo load``: the 13 kretsar, synthetic members with valid personnummer, staff."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from voting.admin.services import authenticate
from voting.dev.demo import KRETSAR, demo_schedule, demo_slug, load_demo, member_rows
from voting.elections.models import Election
from voting.log.services import entries
from voting.members.models import Forening, Krets, Member
from voting.members.pnr import luhn_digit, parse_personnummer
from voting.members.services import personnummer_of
from voting.staff.models import User

STOCKHOLM = ZoneInfo("Europe/Stockholm")
KRETS_NAMES = {
    "Norrmalm", "Östermalm", "Kungsholmen", "Södermalm", "Bromma", "Hässelby-Vällingby",
    "Spånga-Tensta", "Rinkeby-Kista", "Enskede-Årsta-Vantör", "Skarpnäck", "Farsta",
    "Hägersten-Älvsjö", "Skärholmen",
}  # fmt: skip


def _count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_demo_load_creates_the_demo_and_is_idempotent(demo_app, clock, tmp_path):
    clock.set(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))
    logins = tmp_path / "logins.txt"
    runner = demo_app.test_cli_runner()
    db_session = demo_app.extensions["db"]["sessionmaker"]()

    result = runner.invoke(args=["demo", "load", "--logins-file", str(logins)])

    assert result.exit_code == 0, result.output
    assert "kongress-2027" in result.output
    assert "/val/kongress-2027/nominera" in result.output
    assert "/dev/totp" in result.output
    election = db_session.scalar(select(Election).where(Election.slug == "kongress-2027"))
    assert election.title == "Kongressombudsval 2027"
    assert election.nomination_open(clock())
    assert len(election.contests) == 13
    assert {c.krets.name for c in election.contests} == KRETS_NAMES
    assert all(2 <= c.seats <= 6 for c in election.contests)
    assert all(
        c.krets_code.isascii() and c.krets_code.upper() == c.krets_code for c in election.contests
    )
    assert _count(db_session, Krets) == 13
    assert _count(db_session, Member) == 500
    # Every member has a postal address; one in 40 gets a voting letter, one in 40 a ballot.
    assert _count(db_session, Member, Member.address_enc.is_(None)) == 0
    assert _count(db_session, Member, Member.channel == "letter") == 12
    assert _count(db_session, Member, Member.channel == "postal") == 13
    foreningar = db_session.scalars(select(Forening)).all()
    per_krets = {}
    for forening in foreningar:
        assert forening.contact_email.endswith("@example.org")
        per_krets[forening.krets_code] = per_krets.get(forening.krets_code, 0) + 1
    assert set(per_krets) == {k[0] for k in KRETSAR}
    assert all(2 <= n <= 3 for n in per_krets.values())

    members = db_session.scalars(select(Member)).all()
    numbers = set()
    for member in members:
        pnr = personnummer_of(member)
        assert parse_personnummer(pnr, clock()) == pnr  # valid date and check digit
        assert luhn_digit(pnr[2:11]) == int(pnr[11])
        numbers.add(pnr)
        assert member.email.endswith("@example.org")
        assert member.email.isascii()
        assert member.personnummer_enc is not None
        assert pnr.encode() not in member.personnummer_enc
    assert len(numbers) == 500
    assert len({m.krets_code for m in members}) == 13

    staff = {u.email: u for u in db_session.scalars(select(User))}
    assert {u.role for u in staff.values()} == {"admin", "committee"}
    text = logins.read_text()
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    assert "admin@example.org" in text
    assert "password:" in text
    # Nothing personal in the audit log, and each step is there.
    register = [e.type for e in entries(db_session, "register")]
    assert "members.imported" in register
    assert "foreningar.imported" in register
    assert register.count("staff.created") == 2
    for entry in entries(db_session, "register"):
        assert "@" not in entry.body
    db_session.rollback()

    again = runner.invoke(args=["demo", "load", "--logins-file", str(logins)])

    assert again.exit_code == 0, again.output
    assert "already loaded" in again.output
    assert text in again.output  # the logins of the first load are shown again
    assert _count(db_session, Election) == 1
    assert _count(db_session, Member) == 500
    assert _count(db_session, User) == 2
    assert logins.read_text() == text
    db_session.close()


def test_printed_password_and_totp_log_in(app, db_session, clock):
    import pyotp

    from voting.admin.services import totp_secret

    result = load_demo(db_session, clock(), members=20, seed=7)
    db_session.commit()
    email, _role, password = result.logins[0]
    user = db_session.scalar(select(User).where(User.email == email))
    code = pyotp.TOTP(totp_secret(user)).at(clock())

    assert authenticate(db_session, email, password, code, clock()).id == user.id


def test_members_are_reproducible_from_the_seed():
    today = datetime(2026, 11, 26, tzinfo=UTC).date()
    assert member_rows(50, 3, today) == member_rows(50, 3, today)
    assert member_rows(50, 3, today) != member_rows(50, 4, today)
    rows = member_rows(300, 1, today)
    assert len({r["personnummer"] for r in rows}) == 300
    assert all(r["email"].count("@") == 1 and r["email"].isascii() for r in rows)


@pytest.mark.parametrize(
    ("now", "closes", "voting_opens"),
    [
        # Before 30 November: close then, vote in January after.
        (
            datetime(2026, 11, 26, 5, 0, tzinfo=UTC),
            datetime(2026, 11, 30, 23, 59, 59, tzinfo=STOCKHOLM),
            datetime(2027, 1, 12, tzinfo=STOCKHOLM),
        ),
        (
            datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
            datetime(2026, 11, 30, 23, 59, 59, tzinfo=STOCKHOLM),
            datetime(2027, 1, 12, tzinfo=STOCKHOLM),
        ),
        # Past 30 November: two weeks from today instead.
        (
            datetime(2026, 12, 10, 12, 0, tzinfo=UTC),
            datetime(2026, 12, 24, 23, 59, 59, tzinfo=STOCKHOLM),
            datetime(2027, 1, 12, tzinfo=STOCKHOLM),
        ),
        (
            datetime(2026, 12, 31, 12, 0, tzinfo=UTC),
            datetime(2027, 1, 14, 23, 59, 59, tzinfo=STOCKHOLM),
            datetime(2028, 1, 12, tzinfo=STOCKHOLM),
        ),
    ],
)
def test_schedule_keeps_nominations_open_now(now, closes, voting_opens):
    schedule = demo_schedule(now)

    assert schedule["nomination_opens"] < now < schedule["nomination_closes"]
    assert schedule["nomination_closes"] == closes
    assert schedule["voting_opens"] == voting_opens
    assert schedule["voting_closes"] == datetime(
        voting_opens.year, 1, 25, 23, 59, 59, tzinfo=STOCKHOLM
    )
    assert demo_slug(now) == f"kongress-{voting_opens.year}"


@pytest.mark.parametrize("setting", [{"TESTING": False}, {"DEBUG": True}])
def test_demo_group_exists_only_with_demo(database_url, clock, smtp, tmp_path, setting):
    from tests.conftest import make_app

    plain = make_app(database_url, clock, smtp.port, tmp_path, MAIL_TRANSPORT="sink", **setting)
    try:
        result = plain.test_cli_runner().invoke(args=["demo", "load"])
        assert result.exit_code != 0
        assert "No such command" in result.output
    finally:
        plain.extensions["db"]["engine"].dispose()
