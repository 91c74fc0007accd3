"""The committee's search of the member register: by member number, name, email or personnummer.

A personnummer is found through its keyed hash (``personnummer_lookup``), never by decrypting
the register; a text that is not a valid personnummer is searched as a name, number or address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from voting.members.errors import PersonnummerError
from voting.members.models import Member
from voting.members.pnr import looks_like_personnummer
from voting.members.services import find_member_by_personnummer

# Enough to find the one member on the phone; a longer list means the search needs more words.
MAX_RESULTS = 50
# A name part shorter than this would match half the register.
MIN_WORD = 2
# Characters with a meaning in LIKE patterns: searched for as themselves.
_LIKE_SPECIAL = re.compile(r"([\\%_])")


@dataclass
class SearchResult:
    """The members found, in name order, and how the query was read."""

    by: str  # "personnummer", "email", "name_or_number" or "nothing" (nothing to search for)
    members: list[Member] = field(default_factory=list)
    truncated: bool = False  # more matched than MAX_RESULTS
    # Why the query looked like a personnummer but is none.
    invalid_personnummer: PersonnummerError | None = None


def _contains(column: InstrumentedAttribute[Any], word: str) -> ColumnElement[bool]:
    """``column`` contains ``word``, case-insensitively in the common written forms.

    Why the variants: SQLite folds case for ASCII letters only, so "åsa" would miss "Åsa"; the
    lower, capitalised and upper forms cover how names are written. PostgreSQL's ILIKE folds all.
    """
    escaped = _LIKE_SPECIAL.sub(r"\\\1", word)
    variants = {escaped.lower(), escaped.capitalize(), escaped.upper()}
    return or_(*(column.ilike(f"%{v}%", escape="\\") for v in sorted(variants)))


def search_members(session: Session, query: str, today: date) -> SearchResult:
    """Members matching ``query``: a personnummer exactly, an address in part, or every word of
    a name (in first or last name) in part, or a member number exactly."""
    text = " ".join(query.split())
    if not text:
        return SearchResult(by="nothing")
    if looks_like_personnummer(text):
        try:
            member = find_member_by_personnummer(session, text, today)
        except PersonnummerError as exc:
            # Not a valid personnummer: it may still be a (long) member number.
            numbered = session.get(Member, text)
            if numbered is not None:
                return SearchResult(by="name_or_number", members=[numbered])
            return SearchResult(by="personnummer", invalid_personnummer=exc)
        return SearchResult(by="personnummer", members=[member] if member else [])

    if "@" in text:
        by = "email"
        condition: ColumnElement[bool] = _contains(Member.email, text.lower())
    else:
        by = "name_or_number"
        words = [w for w in text.split(" ") if len(w) >= MIN_WORD]
        by_name = (
            and_(
                *(
                    or_(_contains(Member.first_name, w), _contains(Member.last_name, w))
                    for w in words
                )
            )
            if words
            else None
        )
        same_number: ColumnElement[bool] = Member.member_id == text
        condition = or_(same_number, by_name) if by_name is not None else same_number
    rows = list(
        session.scalars(
            select(Member)
            .where(condition)
            .order_by(Member.last_name, Member.first_name, Member.member_id)
            .limit(MAX_RESULTS + 1)
        )
    )
    return SearchResult(by=by, members=rows[:MAX_RESULTS], truncated=len(rows) > MAX_RESULTS)
