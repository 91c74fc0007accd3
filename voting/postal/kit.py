"""The postal kit: per member a letter (address in the C5 window, as voting/letters/pdf.py
places it), the paper ballot of their krets, and the return instructions; one PDF for a print
shop.

The ballot page names no member and carries no number: it goes into the inner envelope, which
is opened among others (docs/postal.md), so nothing on it may tell whose it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog.events import POSTAL_KITS_MADE
from voting.ballot import services as ballot
from voting.ballot.codes import check_url, read_code
from voting.ballot.models import RollEntry, SignatureIssued
from voting.crypto import pseudonym
from voting.elections.models import Contest, Election
from voting.letters.pdf import Letter, Sheet, address_lines, when
from voting.log.services import Actor, append
from voting.members.models import Channel, Member
from voting.members.services import member_address
from voting.postal.errors import PostalError

KITS_MADE = POSTAL_KITS_MADE


@dataclass(frozen=True)
class Kit:
    """What one member's kit says."""

    name: str
    member_id: str
    address: dict[str, str]
    contest: Contest
    krets: str
    voter_code: str | None
    candidates: list[str]  # names in published order


def _rule_text(contest: Contest, candidates: int) -> str:
    rule = contest.rule(candidates)
    if rule.min_selections == rule.max_selections:
        return f"Markera exakt {rule.min_selections} namn med ett kryss i rutan."
    return (
        f"Markera minst {rule.min_selections} och högst {rule.max_selections} namn med ett "
        "kryss i rutan."
    )


def kits(session: Session, election: Election) -> tuple[list[Kit], dict[str, int]]:
    """A kit for every postal member of the frozen roll; the members skipped, by reason."""
    rows = session.execute(
        select(Member, RollEntry.contest_id, RollEntry.code_enc)
        .join(RollEntry, RollEntry.member_id == Member.member_id)
        .where(RollEntry.election_id == election.id, Member.channel == Channel.POSTAL.value)
        .order_by(Member.krets_code, Member.last_name, Member.first_name, Member.member_id)
    ).all()
    contests = {c.id: c for c in election.contests}
    names = {
        cid: [n.member.full_name for n in ballot.published_candidates(session, c)]
        for cid, c in contests.items()
    }
    signed = {
        (contest_id, voter)
        for contest_id, voter in session.execute(
            select(SignatureIssued.contest_id, SignatureIssued.voter).where(
                SignatureIssued.contest_id.in_(list(contests))
            )
        )
    }
    skipped = {"voted": 0, "no_vote": 0, "no_address": 0}
    out = []
    for member, contest_id, code_enc in rows:
        contest = contests[contest_id]
        address = member_address(member)
        if not ballot.contest_holds_vote(session, contest):
            skipped["no_vote"] += 1
        elif (contest_id, pseudonym(member.member_id, election.slug)) in signed:
            skipped["voted"] += 1
        elif address is None:
            skipped["no_address"] += 1
        else:
            out.append(
                Kit(
                    name=member.full_name,
                    member_id=member.member_id,
                    address=address,
                    contest=contest,
                    krets=contest.krets.name,
                    voter_code=read_code(election, member.member_id, code_enc),
                    candidates=names[contest_id],
                )
            )
    return out, {k: v for k, v in skipped.items() if v}


def render(election: Election, items: list[Kit], base_url: str, contact: dict[str, Any]) -> bytes:
    """Two pages per member: the letter with the return instructions, then the ballot."""
    sender = contact.get("name") or "Valberedningen"
    help_ways = [w for w in (contact.get("phone"), contact.get("email")) if w]
    closes = when(election, election.voting_closes)
    sheet = Sheet(f"Poströstning – {election.title}", sender)
    pdf, para, text = sheet.pdf, sheet.para, sheet.text
    for kit in items:
        envelope = Letter(kit.name, kit.address, kit.krets, code=None, voter_code=None)
        sheet.letter_page(sender, election.title, address_lines(envelope))
        para(f"Du kan poströsta i {election.title}", 15, "B", 7)
        pdf.ln(2)
        para(
            f"Hej {kit.name}! Du står i röstlängden för {kit.krets} och röstar med post. "
            "Här finns din röstsedel. Din röst är hemlig: ingen ser vem som röstade hur."
        )
        pdf.ln(2)
        para("Så röstar du:", 11, "B", 6)
        para("1. " + _rule_text(kit.contest, len(kit.candidates)) + " Skriv inget annat på den.")
        para(
            "2. Lägg röstsedeln i det lilla innerkuvertet och klistra igen det. Skriv inget på det."
        )
        para(
            "3. Lägg innerkuvertet i det stora ytterkuvertet. Skriv ditt namn och ditt "
            f"medlemsnummer {kit.member_id} på ytterkuvertet."
        )
        para(
            f"4. Skicka ytterkuvertet till {sender} så att det kommer fram senast {closes}. "
            "Senare kuvert räknas inte."
        )
        pdf.ln(2)
        para(
            "Två ledamöter i valberedningen tar emot ytterkuvertet och noterar att du har röstat. "
            "Innerkuverten öppnas blandade med andras, så din röst kan inte spåras till dig. Har "
            "du redan röstat digitalt läggs ditt kuvert åt sidan oöppnat, och din första röst "
            "gäller."
        )
        pdf.ln(2)
        if kit.voter_code is not None:
            para("Din väljarkod", 11, "B", 6)
            sheet.font("Mono", "B", 13)
            pdf.cell(0, 7, kit.voter_code, new_x="LMARGIN", new_y="NEXT")
            para(
                "Väljarkoden är inte hemlig och kan inte användas för att rösta. När röstningen "
                "har stängt kan du med den kontrollera att din röst blev registrerad, på "
                f"{check_url(base_url, election)}."
            )
            pdf.ln(2)
        para("Behöver du hjälp?", 11, "B", 6)
        para(f"Kontakta {sender}" + (f": {', '.join(help_ways)}." if help_ways else "."))
        # The ballot: no name, no number, nothing that tells whose it is.
        pdf.add_page()
        para("Röstsedel", 18, "B", 9)
        para(election.title, 11, "", 6)
        para(f"Krets: {kit.krets}", 11, "B", 6)
        pdf.ln(3)
        para(_rule_text(kit.contest, len(kit.candidates)), 11, "B", 6)
        pdf.ln(4)
        for number, candidate in enumerate(kit.candidates, start=1):
            top = pdf.get_y()
            pdf.rect(20, top, 7, 7)
            pdf.set_xy(31, top)
            sheet.font("Sans", "", 12)
            pdf.cell(0, 7, text(f"{number}.  {candidate}"), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    return sheet.output()


def kits_pdf(
    session: Session,
    election: Election,
    now: datetime,
    base_url: str,
    contact: dict[str, Any],
    *,
    by: Actor,
) -> tuple[bytes, int, dict[str, int]]:
    """The kits PDF of every postal member who has not voted; logged by counts."""
    if not ballot.roll_frozen(session, election):
        raise PostalError("roll_not_frozen", "the roll is not frozen")
    items, skipped = kits(session, election)
    pdf = render(election, items, base_url.rstrip("/"), contact)
    append(session, election.slug, KITS_MADE, {"count": len(items), **skipped, "by": by}, now)
    return pdf, len(items), skipped
