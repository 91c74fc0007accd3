#!/usr/bin/env python3
"""Make the conformance vectors: genuine election records and their invalid variants.

Usage: .venv/bin/python conformance/generate.py [--out conformance]

Four small elections run through the app in-process, each on its own temporary SQLite
database, exactly as the committee and the voters would run them (the real services, the voting
API through the reference client, ``voting election export``): ``normal`` (two kretsar, a member
added to the roll during voting, the results published), ``no-vote`` (kretsar without a vote:
one without candidates, one with fewer candidates than seats, one with as many as seats),
``tie`` (three candidates tied for one seat and two ersättare places, decided by lot) and
``postal`` (postal envelopes registered by two committee members, one set aside, a batch of
paper ballots entered twice with a mismatch resolved, one ballot invalid). Their
records go to ``valid/``; the variants of conformance/mutate.py go to ``valid/`` or
``invalid/``; ``index.json`` lists every file, whether it verifies, and if not the check that
must fail. The private keys stay in memory; nothing but the records is written.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from conformance.mutate import Keys, dump  # noqa: E402
from conformance.vectors import VECTORS  # noqa: E402

BASE_URL = "http://localhost"
START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
KEY_BITS = 2048  # the smallest the app allows; the code path is the one of 3072


@dataclass
class Election:
    """An election to run: its kretsar, members, who is nominated, and how they vote."""

    slug: str
    seed: str
    # (code, name, seats, substitutes)
    kretsar: list[tuple[str, str, int, int]]
    # krets -> [(first name, last name, nominated?)]
    members: dict[str, list[tuple[str, str, bool]]]
    # first name -> the candidates' last names they mark
    votes: dict[str, list[str]]
    # Members the committee adds to the roll while voting is open: (krets, first, last).
    added: list[tuple[str, str, str]] = field(default_factory=list)
    publish: bool = False
    # Members who send a postal envelope (first names; one who voted online has it set aside),
    # and the paper ballots in the opened inner envelopes: the last names marked, or "x".
    postal: list[str] = field(default_factory=list)
    paper: list[list[str] | str] = field(default_factory=list)


ELECTIONS = {
    "normal": Election(
        slug="konf-normal",
        seed="blå kula 4",
        kretsar=[("NORR", "Norr", 2, 2), ("SYD", "Syd", 1, 1)],
        members={
            "NORR": [
                ("Anna", "Berg", True),
                ("Bo", "Åberg", True),
                ("Cecilia", "Dahl", True),
                ("David", "Ek", False),
            ],
            "SYD": [("Eva", "Falk", True), ("Filip", "Gran", True), ("Gun", "Holm", False)],
        },
        votes={
            "Anna": ["Berg", "Åberg"],
            "Bo": ["Berg", "Dahl"],
            "David": ["Berg", "Åberg"],
            "Eva": ["Falk"],
            "Gun": ["Falk"],
        },
        added=[("SYD", "Hedvig", "Ivarsson")],
        publish=True,
    ),
    "no-vote": Election(
        slug="konf-utan-omrostning",
        seed="grön kula 11",
        kretsar=[
            ("NORR", "Norr", 2, 2),
            ("TOM", "Tomsta", 2, 2),
            ("FA", "Fåby", 2, 1),
            ("LIKA", "Likby", 1, 1),
        ],
        members={
            "NORR": [
                ("Anna", "Berg", True),
                ("Bo", "Åberg", True),
                ("Cecilia", "Dahl", True),
                ("David", "Ek", False),
            ],
            "TOM": [("Tore", "Tomsson", False), ("Tyra", "Tomsson", False)],
            "FA": [("Frida", "Fager", True), ("Fabian", "Fager", False)],
            "LIKA": [("Lisa", "Lind", True), ("Leo", "Lind", False)],
        },
        votes={"Anna": ["Berg", "Dahl"], "Cecilia": ["Åberg", "Dahl"]},
    ),
    "tie": Election(
        slug="konf-lottning",
        seed="röd kula 17",
        kretsar=[("MITT", "Mittby", 1, 2)],
        members={
            "MITT": [
                ("Maja", "Aronsson", True),
                ("Mats", "Bengtsson", True),
                ("Mira", "Carlsson", True),
                ("Moa", "Dahlin", True),
                ("Max", "Ek", False),
            ]
        },
        votes={"Maja": ["Bengtsson"], "Mats": ["Carlsson"], "Max": ["Aronsson"]},
    ),
    "postal": Election(
        slug="konf-post",
        seed="gul kula 8",
        kretsar=[("VAST", "Västby", 2, 2)],
        members={
            "VAST": [
                ("Vera", "Alm", True),
                ("Vide", "Björk", True),
                ("Viggo", "Cedersund", True),
                ("Paula", "Pihl", False),
                ("Per", "Pihl", False),
                ("Pia", "Pihl", False),
                ("Valter", "Ek", False),
            ]
        },
        votes={"Vera": ["Alm", "Björk"], "Pia": ["Björk", "Cedersund"], "Valter": ["Alm", "Björk"]},
        postal=["Paula", "Per", "Pia"],
        paper=[["Alm", "Cedersund"], ["Alm", "Björk", "Cedersund"]],
    ),
}


def _toml(election: Election) -> str:
    def iso(moment: datetime) -> str:
        return moment.isoformat()

    lines = [
        f'slug = "{election.slug}"',
        'title = "Kongressombudsval, testvektor"',
        'timezone = "Europe/Stockholm"',
        "[schedule]",
        f'nomination_opens = "{iso(START - timedelta(days=10))}"',
        f'nomination_closes = "{iso(START + timedelta(days=1))}"',
        f'voting_opens = "{iso(START + timedelta(days=10))}"',
        f'voting_closes = "{iso(START + timedelta(days=20))}"',
    ]
    for code, name, seats, substitutes in election.kretsar:
        lines += [
            "[[krets]]",
            f'code = "{code}"',
            f'name = "{name}"',
            f"seats = {seats}",
            f"substitutes = {substitutes}",
        ]
    return "\n".join(lines) + "\n"


class Clock:
    """The app's settable CLOCK."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@contextmanager
def _app(workdir: Path, clock: Clock) -> Iterator[Any]:
    """The app on a fresh, migrated SQLite database in ``workdir``, in an app context."""
    from voting import create_app
    from voting.db import upgrade

    url = f"sqlite:///{workdir / 'election.db'}"
    upgrade(url)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "DATABASE_URL": url,
            "CLOCK": clock,
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": 9,
            "BASE_URL": BASE_URL,
            "SERVER_NAME": "localhost",
            "CONTEST_KEY_BITS": KEY_BITS,
        },
        instance_path=str(workdir / "instance"),
    )
    with app.app_context():
        try:
            yield app
        finally:
            app.extensions["db"]["engine"].dispose()


def _transport(client: Any) -> Any:
    def transport(method: str, url: str, headers: Any, body: bytes | None) -> tuple[int, bytes]:
        response = client.open(
            url.removeprefix(BASE_URL), method=method, headers=dict(headers), data=body
        )
        return response.status_code, response.get_data()

    return transport


def _tokens() -> dict[str, str]:
    """Voting-link tokens by member id, read from the queued link mails."""
    from voting.db import db
    from voting.mail.models import OutboxMessage
    from voting.mail.services import message_body

    tokens: dict[str, str] = {}
    for message in db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "voter_link")
    ):
        body = message_body(message) or ""
        tokens[str(message.member_id)] = body.split(f"{BASE_URL}/rosta/", 1)[1].split()[0]
    db.session.rollback()
    return tokens


def _keys(slug: str) -> Keys:
    """The election's log key and contest keys, decrypted with the app's data key."""
    from voting.ballot.keys import load_private_key
    from voting.ballot.models import ContestKey
    from voting.crypto import decrypt
    from voting.db import db
    from voting.log.keys import PURPOSE
    from voting.log.models import LogKey

    row = db.session.get(LogKey, slug)
    if row is None:
        raise RuntimeError(f"{slug} has no log key")
    log = Ed25519PrivateKey.from_private_bytes(
        decrypt(row.private_key_enc, PURPOSE, aad=slug.encode())
    )
    contests = {
        str(k.contest_id): load_private_key(k) for k in db.session.scalars(sa.select(ContestKey))
    }
    db.session.rollback()
    return Keys(log=log, contests=contests)


def run(election: Election, workdir: Path) -> tuple[dict[str, Any], Keys]:
    """Run ``election`` to its published record; the record and the election's keys."""
    from ballots.client import VoterClient
    from voting.ballot import services
    from voting.db import db
    from voting.elections.services import create_election, get_election
    from voting.lifecycle.candidates import publish_candidates
    from voting.lifecycle.results import publish_results
    from voting.lifecycle.roll import send_links
    from voting.lifecycle.seal import seal_board
    from voting.lifecycle.tally import tally
    from voting.members.models import Member
    from voting.nominations.models import Nomination, NominationStatus

    clock = Clock(START)
    with _app(workdir, clock) as app:
        member_ids: dict[str, str] = {}
        by_name: dict[str, str] = {}
        next_id = iter(range(100001, 200000))

        def member(session: Any, krets: str, first: str, last: str) -> Member:
            ident = str(next(next_id))
            row = Member(
                member_id=ident,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{ident}@example.org",
                krets_code=krets,
                updated_at=clock(),
            )
            session.add(row)
            session.flush()
            member_ids[first] = ident
            return row

        with db.transaction() as s:
            created = create_election(s, _toml(election), clock(), by="cli")
            contests = {c.krets_code: c for c in created.contests}
            for krets, people in election.members.items():
                for first, last, nominated in people:
                    row = member(s, krets, first, last)
                    if nominated:
                        nomination = Nomination(
                            election_id=created.id,
                            contest_id=contests[krets].id,
                            member_id=row.member_id,
                            status=NominationStatus.APPROVED,
                            created_at=clock(),
                            responded_at=clock(),
                        )
                        s.add(nomination)
                        s.flush()
                        by_name[last] = str(nomination.id)
            published_at = created.nomination_closes + timedelta(minutes=1)
            clock.moment = published_at
            publish_candidates(s, created, published_at, key_bits=KEY_BITS, confirm_no_vote=True)
            send_links(s, created, published_at, BASE_URL, by="cli")
            contest_ids = {c.krets_code: str(c.id) for c in created.contests}
            krets_of = {
                first: krets for krets, people in election.members.items() for first, *_ in people
            }
            opens, closes = created.voting_opens, created.voting_closes
        tokens = _tokens()
        clock.moment = opens + timedelta(hours=1)
        client = app.test_client()
        for first, lasts in election.votes.items():
            voter = VoterClient(BASE_URL, tokens[member_ids[first]], transport=_transport(client))
            krets = krets_of[first]
            voter.vote(election.slug, contest_ids[krets], [by_name[last] for last in lasts])
        for krets, first, last in election.added:
            clock.moment += timedelta(hours=1)
            with db.transaction() as s:
                row = member(s, krets, first, last)
                services.add_to_roll(s, get_election(s, election.slug), row, clock(), by="cli")
        staff = _envelopes(election, member_ids, clock) if election.postal else []
        clock.moment = closes + timedelta(hours=1)
        with db.transaction() as s:
            seal_board(s, get_election(s, election.slug), clock(), by="cli")
        if election.paper:
            clock.moment += timedelta(hours=1)
            _paper(election, staff, by_name, clock)
        clock.moment += timedelta(hours=20)
        with db.transaction() as s:
            tally(s, get_election(s, election.slug), election.seed, clock(), by="cli")
        if election.publish:
            clock.moment += timedelta(hours=1)
            with db.transaction() as s:
                publish_results(s, get_election(s, election.slug), clock(), by="cli")
        clock.moment += timedelta(minutes=5)
        path = workdir / "record.json"
        outcome = app.test_cli_runner().invoke(
            args=["election", "export", election.slug, "-o", str(path)]
        )
        if outcome.exit_code != 0:
            raise RuntimeError(f"export of {election.slug} failed: {outcome.output}")
        return json.loads(path.read_text(encoding="utf-8")), _keys(election.slug)


def _envelopes(election: Election, member_ids: dict[str, str], clock: Clock) -> list[int]:
    """Two committee members register and confirm the postal envelopes; their ids."""
    from voting.db import db
    from voting.elections.services import get_election
    from voting.members.models import Channel, Member
    from voting.postal import services as postal
    from voting.staff.models import User

    with db.transaction() as s:
        staff = []
        for n in (1, 2):
            user = User(
                email=f"ledamot{n}@example.org",
                role="committee",
                password_hash="!",  # noqa: S106 - no password: it never signs in
                totp_secret_enc=b"-",
                created_at=clock(),
            )
            s.add(user)
            s.flush()
            staff.append(user.id)
        found = get_election(s, election.slug)
        for first in election.postal:
            s.get_one(Member, member_ids[first]).channel = Channel.POSTAL.value
            clock.moment += timedelta(minutes=10)
            postal.register_envelope(s, found, member_ids[first], clock(), by=staff[0])
            postal.confirm_envelope(s, found, member_ids[first], clock(), by=staff[1])
    return staff


def _paper(election: Election, staff: list[int], by_name: dict[str, str], clock: Clock) -> None:
    """After the seal: one batch of the paper ballots, entered twice (the first entry of the
    first ballot mistyped, then resolved) and accepted."""
    from voting.db import db
    from voting.elections.services import get_election
    from voting.postal import services as postal

    with db.transaction() as s:
        found = get_election(s, election.slug)
        (contest,) = found.contests
        numbers = {c: str(i) for i, c in enumerate(postal.candidate_ids(s, contest), start=1)}

        def typed(marks: list[str] | str) -> str:
            return marks if isinstance(marks, str) else " ".join(numbers[by_name[m]] for m in marks)

        batch = postal.open_batch(
            s, found, contest.id, len(election.paper), clock(), batch_min=1, by=staff[0]
        )
        for position, marks in enumerate(election.paper, start=1):
            postal.enter_ballot(
                s,
                found,
                batch.id,
                position,
                "x" if position == 1 else typed(marks),
                clock(),
                by=staff[0],
            )
            postal.enter_ballot(s, found, batch.id, position, typed(marks), clock(), by=staff[1])
        postal.resolve_ballot(s, found, batch.id, 1, typed(election.paper[0]), clock(), by=staff[0])
        postal.accept_batch(s, found, batch.id, clock(), by=staff[1])


def build(workdir: Path) -> dict[str, tuple[dict[str, Any], Keys]]:
    """Every base election's record and keys, each run on its own database under ``workdir``."""
    built = {}
    for name, election in ELECTIONS.items():
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        built[name] = run(election, folder)
    return built


def write(out: Path, built: dict[str, tuple[dict[str, Any], Keys]]) -> dict[str, Any]:
    """Write the records, their variants and index.json under ``out``; return the index."""
    for sub in ("valid", "invalid"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    vectors: list[dict[str, Any]] = []
    for name, (record, _) in built.items():
        path = f"valid/{name}.json"
        (out / path).write_text(dump(record), encoding="utf-8")
        vectors.append(
            {
                "file": path,
                "valid": True,
                "log_key": record["log"]["fingerprint"],
                "rule": _describe(name),
            }
        )
    for vector in VECTORS:
        record, keys = built[vector.base]
        made = vector.make(record, keys)
        text = made if isinstance(made, str) else dump(made)
        path = f"{'valid' if vector.check is None else 'invalid'}/{vector.name}.json"
        (out / path).write_text(text, encoding="utf-8")
        entry: dict[str, Any] = {
            "file": path,
            "valid": vector.check is None,
            "log_key": record["log"]["fingerprint"],
            "based_on": f"valid/{vector.base}.json",
            "rule": vector.rule,
        }
        if vector.check is not None:
            entry.update(check=vector.check, message=vector.message)
        vectors.append(entry)
    index = {
        "format": "kongressval-conformance-vectors",
        "version": 1,
        "record_version": 1,
        "about": "Election records for testing a verifier written from docs/election-record.md, "
        "docs/api.md and docs/tally.md. Verify each file with log_key as the expected "
        "fingerprint: a valid file passes every check; an invalid one must fail the named "
        "check (it may fail others too). 'message' is a part of verify-election's own "
        "message for that check.",
        "vectors": vectors,
    }
    (out / "index.json").write_text(
        json.dumps(index, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return index


def _describe(name: str) -> str:
    return {
        "normal": "two kretsar that vote; a member added to the roll during voting; the results "
        "published",
        "no-vote": "kretsar without a vote (no candidates, fewer candidates than seats, as many "
        "as seats) beside one that votes",
        "tie": "three candidates tied for one seat and two ersättare places, decided by lot",
        "postal": "postal ballots beside online votes: two envelopes counted (one paper ballot "
        "valid, one invalid with too many marks), one set aside as its member voted online",
    }[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        built = build(Path(tmp))
    index = write(args.out, built)
    print(f"{len(index['vectors'])} vectors written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
