"""Fixtures for the member register: kretsar, CSV building, staff logins."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from voting.admin.services import start_session
from voting.db import db
from voting.members.models import Krets
from voting.members.pnr import make_personnummer
from voting.staff.models import User

HEADER = "member_id,personnummer,first_name,last_name,email,phone,krets,forening"
KRETSAR = {"SODERMALM": "Södermalm", "BROMMA": "Bromma", "NORRMALM": "Norrmalm"}

ANNA_PNR = make_personnummer(date(1981, 12, 18), 987)
BO_PNR = make_personnummer(date(1950, 3, 4), 123)
CIA_PNR = make_personnummer(date(2001, 7, 9), 456, coordination=True)


def csv_bytes(
    lines: list[str], *, sep: str = ",", bom: bool = False, header: str = HEADER
) -> bytes:
    """A CSV file as a spreadsheet saves it: header first, CRLF line ends."""
    text = "\r\n".join([header.replace(",", sep), *lines]) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8")


def member_line(
    member_id: str,
    pnr: str = "",
    first: str = "Anna",
    last: str = "Åberg",
    email: str = "",
    phone: str = "",
    krets: str = "SODERMALM",
    forening: str = "",
    sep: str = ",",
) -> str:
    return sep.join([member_id, pnr, first, last, email, phone, krets, forening])


def good_file(sep: str = ",", bom: bool = False) -> bytes:
    """Three valid members in three written forms of the personnummer."""
    return csv_bytes(
        [
            member_line(
                "1001",
                f"{ANNA_PNR[:8]}-{ANNA_PNR[8:]}",
                email="Anna.Aberg@Example.ORG",
                phone="070-123 45 67",
                forening="S-föreningen Söder",
                sep=sep,
            ),
            member_line(
                "1002", BO_PNR[2:], "Bo", "Berg", "bo@example.org", krets="BROMMA", sep=sep
            ),
            member_line("1003", CIA_PNR, "Cia", "Ceder", krets="norrmalm", sep=sep),
        ],
        sep=sep,
        bom=bom,
    )


@pytest.fixture
def kretsar(app) -> dict[str, str]:
    with db.transaction() as s:
        for code, name in KRETSAR.items():
            s.add(Krets(code=code, name=name))
    return KRETSAR


@pytest.fixture
def login(app, client, clock):
    """Log the test client in as a staff user of ``role`` (None: stay anonymous)."""

    def _login(role: str | None) -> int | None:
        if role is None:
            return None
        now = clock()
        with db.transaction() as s:
            user = User(
                email=f"{role}@example.org",
                role=role,
                password_hash="not-used-here",
                totp_secret_enc=b"not-used-here",
                created_at=now,
            )
            s.add(user)
            s.flush()
            uid = user.id
        # Outside the transaction: the cookie's request context ends the app's db session.
        with client.session_transaction() as cookie:
            start_session(cookie, SimpleNamespace(id=uid, session_epoch=0), now)
        return uid

    return _login
