"""Voter codes: one random code per roll entry, committed to in the log, shown to its member
and, after the seal, published per contest as the roll's codes and the codes issued a signature.

A code is not a credential: every code is public once the lists are. What must stay secret is
which member holds which, so a code is stored only encrypted (bound to its member) with a keyed
hash for uniqueness, and a published list holds codes alone, sorted, with no time or order.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auditlog.votercodes import ALPHABET, LENGTH, codes_hash, format_code
from voting.ballot.models import BoardSeal, RollCommitment, RollEntry, SignatureIssued
from voting.crypto import decrypt, encrypt, keyed_hash, pseudonym
from voting.elections.models import Contest, Election

CODE_PURPOSE = "voter-code"  # AES-GCM of the code
LOOKUP_PURPOSE = "voter-code-lookup"  # HMAC of the code: unique in the election
NO_SALT = "0" * 64  # the record's salt of a contest whose roll no event committed to
RETRIES = 8  # fresh codes tried when one is taken (about 1 in 10^10 per member: never, really)


def new_code() -> str:
    """A fresh random voter code, such as ``K7QF-3MXR-9T``."""
    # Why secrets: the codes of some members (one's own, one's friends') must say nothing about
    # the codes of others, which a seeded generator's sequence would.
    return format_code("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))


def _aad(election: Election, member_id: str) -> bytes:
    # Why bound to the member: a ciphertext moved to another row must not decrypt there, or a
    # database edit could show one member another member's code.
    return f"{election.slug}\x1f{member_id}".encode()


def code_lookup(code: str, data_key: str | None = None) -> str:
    """The keyed hash that makes a code unique in its election without storing it in clear."""
    return keyed_hash(code, LOOKUP_PURPOSE, data_key)


def code_columns(
    election: Election, member_id: str, code: str, data_key: str | None = None
) -> dict[str, Any]:
    """The roll entry's stored form of ``code``."""
    return {
        "code_enc": encrypt(
            code.encode(), CODE_PURPOSE, aad=_aad(election, member_id), data_key=data_key
        ),
        "code_lookup": code_lookup(code, data_key),
    }


def read_code(
    election: Election, member_id: str, code_enc: bytes | None, data_key: str | None = None
) -> str | None:
    """The code stored in a roll entry; None for a roll frozen before codes existed."""
    if code_enc is None:
        return None
    return decrypt(
        code_enc, CODE_PURPOSE, aad=_aad(election, member_id), data_key=data_key
    ).decode()


def fresh_codes(count: int) -> list[str]:
    """``count`` distinct fresh codes (for the freeze, when the election has none yet)."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(new_code())
    return list(codes)


def member_code(session: Session, election: Election, member_id: str) -> str | None:
    """The member's voter code in the election; None if they are not on its roll (or it has no
    codes)."""
    code_enc = session.scalar(
        select(RollEntry.code_enc).where(
            RollEntry.election_id == election.id, RollEntry.member_id == member_id
        )
    )
    return read_code(election, member_id, code_enc)


def commit_roll(
    session: Session, contest_id: int, codes: Sequence[str], *, size: int | None = None
) -> str:
    """Store a salted commitment to the contest's roll of ``codes`` (``size`` entries, by
    default as many as codes); its ``codes_hash``."""
    salt = secrets.token_hex(32)
    digest = codes_hash(sorted(codes), salt)
    count = len(codes) if size is None else size
    session.add(RollCommitment(contest_id=contest_id, size=count, salt=salt, codes_hash=digest))
    return digest


def freeze_entries(
    session: Session,
    election: Election,
    members: Sequence[tuple[int, str]],
    now: datetime,
) -> dict[int, list[str]]:
    """Insert the frozen roll's entries, (contest, member) each with a fresh code; the codes
    by contest."""
    codes_of: dict[int, list[str]] = {}
    rows = []
    for (contest_id, member_id), code in zip(members, fresh_codes(len(members)), strict=True):
        rows.append(
            {
                "election_id": election.id,
                "contest_id": contest_id,
                "member_id": member_id,
                "source": "freeze",
                "added_at": now,
                **code_columns(election, member_id, code),
            }
        )
        codes_of.setdefault(contest_id, []).append(code)
    if rows:
        session.execute(sa.insert(RollEntry), rows)
    return codes_of


def contest_roll_codes(session: Session, election: Election, contest_id: int) -> list[str]:
    """Every code on the contest's roll, sorted."""
    rows = session.execute(
        select(RollEntry.member_id, RollEntry.code_enc).where(RollEntry.contest_id == contest_id)
    )
    codes = (read_code(election, member_id, code_enc) for member_id, code_enc in rows)
    return sorted(code for code in codes if code is not None)


def add_entry(
    session: Session, election: Election, contest: Contest, member_id: str, **values: Any
) -> tuple[RollEntry, str]:
    """Put the member on the contest's roll with a fresh code; the entry and its code.

    The unique constraint on the code's keyed hash decides a collision, also with an addition
    in another contest committing at the same moment; then another code is tried.
    """
    for _attempt in range(RETRIES):
        code = new_code()
        entry = RollEntry(
            election_id=election.id,
            contest_id=contest.id,
            member_id=member_id,
            **values,
            **code_columns(election, member_id, code),
        )
        try:
            with session.begin_nested():
                session.add(entry)
                session.flush()
        except IntegrityError:
            taken = session.scalar(
                select(RollEntry.id).where(
                    RollEntry.election_id == election.id,
                    RollEntry.code_lookup == entry.code_lookup,
                )
            )
            if taken is None:
                raise  # not the code: the member is on the roll already
            continue
        return entry, code
    raise RuntimeError(f"no free voter code after {RETRIES} tries")  # pragma: no cover


def roll_size(session: Session, contest_id: int) -> int:
    """The number of entries on the contest's roll."""
    return (
        session.scalar(
            select(func.count()).select_from(RollEntry).where(RollEntry.contest_id == contest_id)
        )
        or 0
    )


# --- The published lists -------------------------------------------------------------------


@dataclass
class ContestCodes:
    """One contest's lists: the roll's codes, the salt of its last commitment, the issued codes."""

    contest: Contest
    roll: list[str] = field(default_factory=list)
    salt: str = NO_SALT
    issued: list[str] = field(default_factory=list)


def code_lists(session: Session, election: Election) -> dict[int, ContestCodes]:
    """Each contest's roll codes and issued codes, sorted, by contest id.

    A signature is issued to a pseudonym; the roll entry whose member has that pseudonym gives
    its code. A signature whose pseudonym names no entry of the contest's roll has no code, so
    the issued list comes out shorter than the count, which verify-election refuses.
    """
    lists = {c.id: ContestCodes(c) for c in election.contests}
    by_voter: dict[tuple[int, str], str] = {}
    rows = session.execute(
        select(RollEntry.contest_id, RollEntry.member_id, RollEntry.code_enc).where(
            RollEntry.election_id == election.id
        )
    )
    for contest_id, member_id, code_enc in rows:
        code = read_code(election, member_id, code_enc)
        if code is None or contest_id not in lists:
            continue
        lists[contest_id].roll.append(code)
        by_voter[(contest_id, pseudonym(member_id, election.slug))] = code
    signed = session.execute(
        select(SignatureIssued.contest_id, SignatureIssued.voter).where(
            SignatureIssued.contest_id.in_(list(lists))
        )
    )
    for contest_id, voter in signed:
        code = by_voter.get((contest_id, voter))
        if code is not None:
            lists[contest_id].issued.append(code)
    # The commitment in force is the one of the largest roll (each addition made a larger one).
    for contest_id, salt in session.execute(
        select(RollCommitment.contest_id, RollCommitment.salt)
        .where(RollCommitment.contest_id.in_(list(lists)))
        .order_by(RollCommitment.contest_id, RollCommitment.size)
    ):
        lists[contest_id].salt = salt
    for item in lists.values():
        item.roll.sort()
        item.issued.sort()
    return lists


_PUBLISHED: dict[tuple[Any, ...], dict[str, Any]] = {}


def published_lists(session: Session, election: Election) -> dict[str, Any] | None:
    """The lists members check their codes against; None until the board is sealed.

    Why only after the seal: during voting the issued list would show each krets's turnout as
    it grows, and until the seal it is not final. After the seal nothing changes them, so each
    process builds them once.
    """
    seal = session.get(BoardSeal, election.id)
    if seal is None:
        return None
    ident = (str(session.get_bind().engine.url), election.id, seal.sealed_at)
    cached = _PUBLISHED.get(ident)
    if cached is None:
        if len(_PUBLISHED) > 16:
            _PUBLISHED.clear()
        cached = _PUBLISHED[ident] = {
            "election": election.slug,
            "contests": [
                {
                    "contest": str(item.contest.id),
                    "krets": item.contest.krets_code,
                    "roll_codes": item.roll,
                    "issued_codes": item.issued,
                }
                for item in sorted(code_lists(session, election).values(), key=_by_id)
            ],
        }
    return cached  # shared: callers only serialize it


def _by_id(item: ContestCodes) -> int:
    return item.contest.id


# --- Telling the member -------------------------------------------------------------------


def check_url(base_url: str, election: Election) -> str:
    """The public page where a member checks their voter code after the close."""
    return f"{base_url.rstrip('/')}/val/{election.slug}/kontrollera"


def with_voter_code(body: str, code: str | None, where: str) -> str:
    """A voting mail's body with the member's voter code: a paragraph at the end of the Swedish
    part (before the ``-- `` line) and a sentence at the end of the English part."""
    if code is None:
        return body
    sv = (
        f"Din väljarkod: {code}\n"
        "När röstningen har stängt publiceras vilka väljarkoder som fick en röstsedel "
        f"signerad. Där kan du kontrollera att ingen annan har röstat i ditt namn: {where}\n"
        "Koden visar inte hur du röstar, men den som känner till den kan se om du har röstat.\n\n"
    )
    en = (
        f"Your voter code is {code}. After the close, check at {where} that nobody voted in "
        "your name.\n"
    )
    swedish, separator, english = body.partition("-- \n")
    if not separator:
        return body + "\n" + sv
    return swedish + sv + separator + english + en
