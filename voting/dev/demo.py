"""Demo data for ``scripts/serve``: the 13 Stockholm kretsar, synthetic members, demo staff.

Everything is generated: seeded random names, personnummer with valid check digits, addresses
under example.org (a domain reserved for examples, so no mail can reach a real person).
Passwords are random per load and are only printed, never stored in the repository.
"""

from __future__ import annotations

import random
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditlog.events import DEMO_CANDIDATES_LOADED
from voting.admin.services import create_user
from voting.elections.models import Election
from voting.elections.services import create_election
from voting.log.services import CLI, append
from voting.members.channels import set_channels_from_csv
from voting.members.importing import import_foreningar, import_members
from voting.members.models import Forening, Member
from voting.members.pnr import make_personnummer
from voting.nominations.models import (
    Nomination,
    NominationStatus,
    NominationSubmission,
    SubmissionStatus,
)
from voting.staff.models import User

TIMEZONE = "Europe/Stockholm"

# (code, name, seats, relative size, areas that give the föreningar their names)
KRETSAR: tuple[tuple[str, str, int, int, tuple[str, ...]], ...] = (
    ("NORRMALM", "Norrmalm", 3, 70, ("Vasastan", "Norrmalm City", "Hagastaden")),
    ("OSTERMALM", "Östermalm", 4, 75, ("Gärdet", "Lärkstaden")),
    ("KUNGSHOLMEN", "Kungsholmen", 3, 70, ("Fridhemsplan", "Stadshagen", "Essingeöarna")),
    ("SODERMALM", "Södermalm", 6, 130, ("Katarina", "Högalid", "Maria")),
    ("BROMMA", "Bromma", 4, 80, ("Alvik", "Blackeberg", "Abrahamsberg")),
    ("HASSELBY_VALLINGBY", "Hässelby-Vällingby", 4, 75, ("Hässelby gård", "Vällingby")),
    ("SPANGA_TENSTA", "Spånga-Tensta", 2, 40, ("Tensta", "Spånga", "Solhem")),
    ("RINKEBY_KISTA", "Rinkeby-Kista", 3, 50, ("Rinkeby", "Husby", "Kista")),
    ("ENSKEDE_ARSTA_VANTOR", "Enskede-Årsta-Vantör", 5, 105, ("Årsta", "Enskede", "Rågsved")),
    ("SKARPNACK", "Skarpnäck", 3, 50, ("Bagarmossen", "Björkhagen")),
    ("FARSTA", "Farsta", 3, 60, ("Farsta strand", "Hökarängen", "Sköndal")),
    ("HAGERSTEN_ALVSJO", "Hägersten-Älvsjö", 5, 110, ("Midsommarkransen", "Älvsjö", "Fruängen")),
    ("SKARHOLMEN", "Skärholmen", 2, 37, ("Bredäng", "Sätra", "Vårberg")),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE = _words(
    """
    Anna Eva Maria Karin Sara Lena Kerstin Emma Ingrid Malin Sofia Linnea Elin Johanna Ida
    Hanna Birgitta Marie Ulla Åsa Ann-Sofie Agnes Maja Ebba Märta Signe Amira Leila Fatima
    Zeynep
    """
)
MALE = _words(
    """
    Lars Anders Johan Per Erik Karl Mikael Peter Jan Hans Olof Nils Gustav Oskar Viktor
    Axel Björn Göran Stefan Magnus Mats Åke Sven Emil Hugo Ali Omar Mehmet Daniel Jonas
    """
)
LAST = _words(
    """
    Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson
    Gustafsson Pettersson Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson
    Magnusson Lindström Olofsson Lindqvist Lindgren Berg Axelsson Bergström Lundberg Lind
    Lundgren Lundqvist Mattsson Berglund Fredriksson Sandberg Henriksson Forsberg Sjöberg
    Wallin Engström Eklund Danielsson Lundin Håkansson Björk Bergman Gunnarsson Holm
    Wikström Samuelsson Isaksson Fransson Bergqvist Nyström Holmberg Arvidsson Löfgren
    Söderberg Nyberg Blomqvist Claesson Nordström Ali Mohammed Yilmaz Hassan Ahmed
    """
)

STAFF: tuple[tuple[str, str], ...] = (
    ("admin@example.org", "admin"),
    ("valberedning@example.org", "committee"),
)
STAFF_EMAILS = frozenset(email for email, _role in STAFF)


@dataclass
class DemoResult:
    """What ``load_demo`` made; ``logins`` hold the only copy of the passwords."""

    slug: str
    title: str
    kretsar: int
    members: int
    foreningar: int
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (email, role, password)
    example: dict[str, str] = field(default_factory=dict)


def ascii_fold(text: str) -> str:
    """Lower-case ASCII for an email local part: "Åsa Söderberg" -> "asa soderberg"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if ch.isascii() and not unicodedata.combining(ch))


def demo_schedule(now: datetime) -> dict[str, datetime]:
    """Nominations opened a week ago and close on the coming 30 November (or in two weeks if
    that has passed); voting runs 12-25 January after that. Local times, aware."""
    tz = ZoneInfo(TIMEZONE)
    local = now.astimezone(tz)
    opens = datetime.combine(local.date() - timedelta(days=7), time(0, 0), tz)
    closes = datetime(local.year, 11, 30, 23, 59, 59, tzinfo=tz)
    if closes <= local:
        closes = datetime.combine(local.date() + timedelta(days=14), time(23, 59, 59), tz)
    year = closes.year if datetime(closes.year, 1, 12, tzinfo=tz) > closes else closes.year + 1
    return {
        "nomination_opens": opens,
        "nomination_closes": closes,
        "voting_opens": datetime(year, 1, 12, 0, 0, tzinfo=tz),
        "voting_closes": datetime(year, 1, 25, 23, 59, 59, tzinfo=tz),
    }


def demo_slug(now: datetime) -> str:
    """``kongress-<year of the vote>``, the slug the demo election gets when loaded at ``now``."""
    return f"kongress-{demo_schedule(now)['voting_opens'].year}"


def election_toml(now: datetime) -> str:
    """The demo's election file (the same format ``voting election create`` reads)."""
    schedule = demo_schedule(now)
    year = schedule["voting_opens"].year
    lines = [
        f'slug = "kongress-{year}"',
        f'title = "Kongressombudsval {year}"',
        f'timezone = "{TIMEZONE}"',
        "",
        "[schedule]",
    ]
    # Wall-clock times without offset: the file's own convention, read in the election's zone.
    lines += [
        f'{name} = "{moment.replace(tzinfo=None).isoformat()}"' for name, moment in schedule.items()
    ]
    for code, name, seats, _size, _areas in KRETSAR:
        lines += ["", "[[krets]]", f'code = "{code}"', f'name = "{name}"', f"seats = {seats}"]
    return "\n".join(lines) + "\n"


def foreningar_rows() -> list[dict[str, str]]:
    """Two or three föreningar per krets, each with a contact address."""
    return [
        {
            "name": f"Föreningen {area}",
            "krets": code,
            "contact_email": f"kontakt.{ascii_fold(area).replace(' ', '-')}@example.org",
        }
        for code, _name, _seats, _size, areas in KRETSAR
        for area in areas
    ]


def member_rows(count: int, seed: int, today: date) -> list[dict[str, str]]:
    """``count`` synthetic members, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    codes = [k[0] for k in KRETSAR]
    weights = [k[3] for k in KRETSAR]
    foreningar = {k[0]: [f"Föreningen {area}" for area in k[4]] for k in KRETSAR}
    oldest, youngest = date(today.year - 85, 1, 1), date(today.year - 18, 1, 1)
    span = (youngest - oldest).days
    seen_pnr: set[str] = set()
    rows = []
    for index in range(1, count + 1):
        female = rng.random() < 0.5
        first = rng.choice(FEMALE if female else MALE)
        last = rng.choice(LAST)
        while True:
            born = oldest + timedelta(days=rng.randrange(span))
            # The serial's last digit is odd for men and even for women, as in real numbers.
            serial = rng.randrange(100) * 10 + rng.choice(
                (0, 2, 4, 6, 8) if female else (1, 3, 5, 7, 9)
            )
            if serial == 0:
                continue  # Skatteverket never issues serial 000
            pnr = make_personnummer(born, serial)
            if pnr not in seen_pnr:
                seen_pnr.add(pnr)
                break
        code = rng.choices(codes, weights)[0]
        local = f"{ascii_fold(first)}.{ascii_fold(last)}.{index}".replace(" ", "")
        rows.append(
            {
                "member_id": str(100000 + index),
                "personnummer": f"{pnr[:8]}-{pnr[8:]}",
                "first_name": first,
                "last_name": last,
                "email": f"{local}@example.org",
                "phone": (
                    f"07{rng.choice('0236')}-{rng.randrange(1000):03d} "
                    f"{rng.randrange(100):02d} {rng.randrange(100):02d}"
                    if rng.random() < 0.8
                    else ""
                ),
                "krets": code,
                "forening": rng.choice(foreningar[code]) if rng.random() < 0.7 else "",
            }
        )
    return rows


STREETS = ("Storgatan", "Kyrkvägen", "Skolgatan", "Parkvägen", "Ringvägen", "Björkvägen")
# One member in LETTER_EVERY gets a voting letter, and one (another) a postal ballot.
LETTER_EVERY = 40


def with_addresses(rows: list[dict[str, str]], seed: int) -> list[dict[str, str]]:
    """The rows with a made-up postal address each (the CSV's optional columns), from an RNG of
    their own so that the rest of the demo stays what the seed gave before addresses existed."""
    rng = random.Random(seed + 1)  # noqa: S311 - demo data, not secrets
    for row in rows:
        row.update(
            co="",
            street=f"{rng.choice(STREETS)} {rng.randrange(1, 60)}",
            postcode=f"1{rng.randrange(10, 99)} {rng.randrange(10, 99)}",
            city="Stockholm",
        )
    return rows


def demo_channels(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """A few members on the post: every LETTER_EVERY-th a letter, halfway between a ballot."""
    chosen = []
    for index, row in enumerate(rows, start=1):
        if index % LETTER_EVERY == 0:
            chosen.append({"member_id": row["member_id"], "channel": "letter"})
        elif index % LETTER_EVERY == LETTER_EVERY // 2:
            chosen.append({"member_id": row["member_id"], "channel": "postal"})
    return chosen


def _example(rows: list[dict[str, str]]) -> dict[str, str]:
    """A nominator and a nominee from the same krets, for the printed walk-through."""
    by_krets: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_krets.setdefault(row["krets"], []).append(row)
    for code in ("SODERMALM", *by_krets):
        same = by_krets.get(code, [])
        if len(same) >= 2:
            nominator, nominee = same[0], same[1]
            return {
                "krets": {k[0]: k[1] for k in KRETSAR}[code],
                "nominator_email": nominator["email"],
                "nominee_name": f"{nominee['first_name']} {nominee['last_name']}",
                "nominee_member_id": nominee["member_id"],
                "nominee_email": nominee["email"],
            }
    return {}


PRESENTATION = (
    "Jag har varit aktiv i {forening} i många år och vill föra {krets}s röst till kongressen. "
    "Mina hjärtefrågor är bostäder, skola och en trygg välfärd."
)


# Kretsar that get fewer candidates than seats in the demo: Skärholmen none, Spånga-Tensta one
# for its two seats. Every other krets gets one candidate more than its seats.
DEMO_FEW_CANDIDATES = {"SKARHOLMEN": 0, "SPANGA_TENSTA": 1}


def _demo_candidates(
    session: Session, election: Election, rows: list[dict[str, str]], now: datetime
) -> int:
    """Approved nominations (seats + 1 per krets), so the demo can go on to vote.

    Two kretsar show what real districts meet too: one without any candidate and one with fewer
    candidates than seats (``DEMO_FEW_CANDIDATES``); neither holds a vote. The first two members
    of each krets are left alone: the printed walk-through nominates one of them by hand.
    """
    by_krets: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_krets.setdefault(row["krets"], []).append(row)
    count = 0
    for contest in election.contests:
        members = by_krets.get(contest.krets_code, [])[2:]
        nominator = members[-1] if members else None
        wanted = DEMO_FEW_CANDIDATES.get(contest.krets_code, contest.seats + 1)
        for row in members[:wanted]:
            if nominator is None or row is nominator:
                continue
            nomination = Nomination(
                election_id=election.id,
                contest_id=contest.id,
                member_id=row["member_id"],
                status=NominationStatus.APPROVED,
                created_at=now,
                responded_at=now,
                reviewed_at=now,
                presentation=PRESENTATION.format(
                    forening=row["forening"] or "partiet", krets=contest.krets.name
                ),
            )
            session.add(nomination)
            session.flush()
            session.add(
                NominationSubmission(
                    election_id=election.id,
                    nominee_member_id=row["member_id"],
                    nominator_member_id=nominator["member_id"],
                    nominator_says_accepted=True,
                    status=SubmissionStatus.CONFIRMED,
                    submitted_at=now,
                    confirmed_at=now,
                    nomination_id=nomination.id,
                )
            )
            count += 1
    # Demo data made outside the nomination flow says so in the log.
    append(session, election.slug, DEMO_CANDIDATES_LOADED, {"count": count}, now)
    session.flush()
    return count


def demo_exists(session: Session, now: datetime) -> bool:
    """True when the demo election for ``now`` was loaded before."""
    return session.scalar(select(Election.id).where(Election.slug == demo_slug(now))) is not None


def load_demo(
    session: Session, now: datetime, members: int = 500, seed: int = 1
) -> DemoResult | None:
    """Create the demo election, föreningar, members and staff; None if it exists already."""
    if demo_exists(session, now):
        return None
    election = create_election(session, election_toml(now), now, by=CLI)
    import_foreningar(session, foreningar_rows(), now, by=CLI)
    rows = with_addresses(member_rows(members, seed, now.date()), seed)
    import_members(session, rows, now, by=CLI)
    # Some members vote by letter or on paper, so those routes show in the demo too.
    set_channels_from_csv(session, demo_channels(rows), now, by=CLI)
    _demo_candidates(session, election, rows, now)
    existing_staff = set(session.scalars(select(User.email).where(User.email.in_(STAFF_EMAILS))))
    logins = []
    for email, role in STAFF:
        if email in existing_staff:
            continue  # made by an earlier demo: its password was printed then
        password = secrets.token_urlsafe(12)  # 16 characters, 96 bits
        create_user(session, email, role, password, now)
        logins.append((email, role, password))
    return DemoResult(
        slug=election.slug,
        title=election.title,
        kretsar=len(election.contests),
        members=session.scalar(select(func.count()).select_from(Member)) or 0,
        foreningar=session.scalar(select(func.count()).select_from(Forening)) or 0,
        logins=logins,
        example=_example(rows),
    )


def summary(result: DemoResult, base_url: str) -> list[str]:
    """The lines ``voting demo load`` prints (and ``scripts/serve`` keeps for later runs)."""
    base = base_url.rstrip("/")
    lines = [
        f"Demo: {result.title} ({result.slug}): {result.kretsar} kretsar, "
        f"{result.members} members, {result.foreningar} föreningar.",
        f"  Start page:      {base}/",
        f"  Nomination form: {base}/val/{result.slug}/nominera",
        f"  Committee login: {base}/admin/login",
    ]
    lines += [
        f"    {email:<26} ({role:<9}) password: {password}"
        for email, role, password in result.logins
    ]
    lines += [
        f"  TOTP codes: {base}/dev/totp",
        f"  Mail sink:  {base}/dev/mail",
    ]
    if result.example:
        ex: dict[str, Any] = result.example
        lines += [
            f"  Try it: nominate as {ex['nominator_email']} (a member in {ex['krets']})",
            f"          the member {ex['nominee_name']}, member ID {ex['nominee_member_id']}.",
        ]
    return lines
