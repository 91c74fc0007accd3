"""Members whom mail cannot reach: on an election's roll, without a usable email address.

Three reasons, as the register and the outbox record them:

- *missing*: the register has no address for the member;
- *bounced*: the SMTP server refused the address for good (a 5xx reply to RCPT TO), which
  marks ``Member.email_bounced_at`` until the address is changed;
- *rejected*: the latest mail to the member's present address failed for good with the
  server's refusal (``REJECTED_PREFIX``, e.g. a 5xx reply to the message itself), which does
  not mark the address.

Such a member is on the roll and gets a voting link, but no mail carries it, so the committee
has to reach them another way: a voting letter or a postal ballot (``voting members channel``).
Members on those channels are not counted here. Before the roll is frozen, the members of the
election's kretsar stand in for it (``Reach.roll_frozen`` says which). Names and member IDs
are for the committee's page, its CSV and the CLI's output; logs and the audit log get counts
only.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from voting.ballot.models import RollEntry, RollFreeze
from voting.elections.models import Contest, Election
from voting.mail.models import REJECTED_PREFIX, MailStatus, OutboxMessage
from voting.members.models import Channel, Krets, Member


class Reason(enum.StrEnum):
    """Why mail cannot reach a member; the first that applies, in this order."""

    MISSING = "missing"
    BOUNCED = "bounced"
    REJECTED = "rejected"


@dataclass(frozen=True)
class UnreachableMember:
    """One member of the roll (or of the election's kretsar) whom mail cannot reach, and why."""

    member_id: str
    first_name: str
    last_name: str
    krets_code: str
    krets_name: str
    reason: Reason

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class KretsReach:
    """One krets: its members on the roll, and how many of them mail cannot reach, per reason."""

    krets_code: str
    krets_name: str
    members: int
    missing: int = 0
    bounced: int = 0
    rejected: int = 0

    @property
    def unreachable(self) -> int:
        return self.missing + self.bounced + self.rejected


@dataclass(frozen=True)
class Reach:
    """Counts per krets of the members mail cannot reach; counts only, safe for any log."""

    roll_frozen: bool
    kretsar: tuple[KretsReach, ...]

    @property
    def members(self) -> int:
        return sum(k.members for k in self.kretsar)

    @property
    def missing(self) -> int:
        return sum(k.missing for k in self.kretsar)

    @property
    def bounced(self) -> int:
        return sum(k.bounced for k in self.kretsar)

    @property
    def rejected(self) -> int:
        return sum(k.rejected for k in self.kretsar)

    @property
    def unreachable(self) -> int:
        return self.missing + self.bounced + self.rejected

    def summary(self) -> str:
        """One line for the CLI and the scheduler's log, e.g. ``182 of 4000 members ...``."""
        who = "on the roll" if self.roll_frozen else "of the election's kretsar (roll not frozen)"
        line = f"{self.unreachable} of {self.members} members {who} have no usable email address"
        if self.unreachable:
            line += (
                f" (missing {self.missing}, bounced {self.bounced}, rejected {self.rejected}): "
                + ", ".join(
                    f"{k.krets_code} {k.unreachable}" for k in self.kretsar if k.unreachable
                )
            )
        return line

    def hint(self, slug: str) -> str:
        """The summary and, if anyone is unreachable, the command that lists them."""
        line = self.summary() + "."
        if self.unreachable:
            line += f" Mail cannot reach them; list them with `voting mail unreachable {slug}`."
        return line

    def as_dict(self) -> dict[str, Any]:
        """For ``--json``: totals and one entry per krets code."""
        fields = ("members", "unreachable", "missing", "bounced", "rejected")
        return {
            "roll_frozen": self.roll_frozen,
            **{name: getattr(self, name) for name in fields},
            "kretsar": {
                k.krets_code: {"name": k.krets_name, **{f: getattr(k, f) for f in fields}}
                for k in self.kretsar
            },
        }


def roll_is_frozen(session: Session, election: Election) -> bool:
    """Whether the election's roll is frozen (else its kretsar's members stand in for it)."""
    return session.get(RollFreeze, election.id) is not None


def _population(session: Session, election: Election) -> sa.Subquery:
    """(member_id, krets_code) of the roll, or of the kretsar's members before the freeze."""
    if roll_is_frozen(session, election):
        query = (
            select(RollEntry.member_id, Contest.krets_code)
            .join(Contest, Contest.id == RollEntry.contest_id)
            .where(RollEntry.election_id == election.id)
        )
    else:
        # What freeze_roll would put on the roll now.
        query = (
            select(Member.member_id, Contest.krets_code)
            .join(Contest, Contest.krets_code == Member.krets_code)
            .where(Contest.election_id == election.id)
        )
    return query.subquery("population")


def _unreachable_query(session: Session, election: Election) -> sa.Select[Any]:
    """One row per member of the population whom mail cannot reach, with the reason's code."""
    population = _population(session, election)
    # The member's latest mail to their present address: a later good mail, or a correction of
    # the address, ends a rejection. Addresses compared lower-case, as the register stores them.
    latest = (
        select(OutboxMessage.member_id, func.max(OutboxMessage.id).label("id"))
        .join(Member, Member.member_id == OutboxMessage.member_id)
        .where(func.lower(OutboxMessage.to_addr) == func.lower(Member.email))
        .group_by(OutboxMessage.member_id)
        .subquery("latest")
    )
    last_mail = aliased(OutboxMessage, name="last_mail")
    missing = sa.or_(Member.email.is_(None), func.trim(Member.email) == "")
    bounced = Member.email_bounced_at.is_not(None)
    rejected = sa.and_(
        last_mail.status == MailStatus.FAILED.value,
        last_mail.last_error.startswith(REJECTED_PREFIX, autoescape=True),
    )
    reason = sa.case(
        (missing, Reason.MISSING.value),
        (bounced, Reason.BOUNCED.value),
        else_=Reason.REJECTED.value,
    )
    return (
        select(
            Member.member_id,
            Member.first_name,
            Member.last_name,
            population.c.krets_code,
            Krets.name.label("krets_name"),
            reason.label("reason"),
        )
        .select_from(population)
        .join(Member, Member.member_id == population.c.member_id)
        .join(Krets, Krets.code == population.c.krets_code)
        .outerjoin(latest, latest.c.member_id == Member.member_id)
        .outerjoin(last_mail, last_mail.id == latest.c.id)
        .where(sa.or_(missing, bounced, rejected))
        # Members the committee reaches by post (a letter with a code, a postal ballot) are not
        # waiting for a mail: only the email channel can be unreachable by it.
        .where(Member.channel == Channel.EMAIL.value)
    )


def unreachable_members(session: Session, election: Election) -> list[UnreachableMember]:
    """The members of the election's roll whom mail cannot reach, by krets and member ID.

    Before the roll is frozen: the members of the election's kretsar (see ``roll_is_frozen``).
    """
    query = _unreachable_query(session, election)
    query = query.order_by(query.selected_columns.krets_code, query.selected_columns.member_id)
    return [
        UnreachableMember(
            member_id=row.member_id,
            first_name=row.first_name,
            last_name=row.last_name,
            krets_code=row.krets_code,
            krets_name=row.krets_name,
            reason=Reason(row.reason),
        )
        for row in session.execute(query)
    ]


def reach(session: Session, election: Election) -> Reach:
    """How many members of the roll each krets has, and how many of them mail cannot reach."""
    frozen = roll_is_frozen(session, election)
    population = _population(session, election)
    # The casts: columns read through a subquery are typed as plain objects.
    sizes = {
        cast(str, code): cast(int, number)
        for code, number in session.execute(
            select(population.c.krets_code, func.count()).group_by(population.c.krets_code)
        )
    }
    rows = _unreachable_query(session, election).subquery("unreachable")
    counts: dict[str, dict[str, int]] = {}
    for code, why, number in session.execute(
        select(rows.c.krets_code, rows.c.reason, func.count()).group_by(
            rows.c.krets_code, rows.c.reason
        )
    ):
        counts.setdefault(cast(str, code), {})[cast(str, why)] = cast(int, number)
    kretsar = sorted(
        (
            KretsReach(
                krets_code=contest.krets_code,
                krets_name=contest.krets.name,
                members=sizes.get(contest.krets_code, 0),
                **{
                    reason.value: counts.get(contest.krets_code, {}).get(reason.value, 0)
                    for reason in Reason
                },
            )
            for contest in election.contests
        ),
        key=lambda k: k.krets_code,
    )
    return Reach(roll_frozen=frozen, kretsar=tuple(kretsar))


# Why: a spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# injection"); a leading apostrophe makes it text. Names come from the member register.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = ("medlemsnummer", "förnamn", "efternamn", "krets", "kretsnamn", "orsak")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def unreachable_csv(members: Iterable[UnreachableMember]) -> bytes:
    """The list as ``;``-separated UTF-8 with a BOM (as the results CSV), for a spreadsheet.

    ``orsak`` is the reason's code: ``missing``, ``bounced`` or ``rejected``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for m in members:
        cells = (m.member_id, m.first_name, m.last_name, m.krets_code, m.krets_name, m.reason)
        writer.writerow([_cell(str(c)) for c in cells])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
