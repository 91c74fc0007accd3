"""The member register's look-ups: by member ID, personnummer or email; the checked email
change; the masked personnummer and the summary the committee sees; the föreningar list.

The CSV import is in ``voting.members.importing``.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from voting.audit.services import REGISTER_LOG, append
from voting.crypto import decrypt, keyed_hash, pseudonym
from voting.db import utcnow
from voting.mail.services import queue_mail
from voting.members.errors import MemberNotFound
from voting.members.errors import tr as _
from voting.members.models import Forening, Krets, Member
from voting.members.pnr import mask, parse_personnummer

PNR_PURPOSE = "personnummer"
ADDRESS_PURPOSE = "member-address"
ADDRESS_FIELDS = ("co", "street", "postcode", "city")
PNR_LOOKUP_PURPOSE = "personnummer-lookup"

# An ASCII dot-atom local part: email-validator accepts every such part of up to 64 characters
# and leaves it as it is, so only the domain needs its (slow, IDNA-aware) check, once per domain.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=4096)
def _normalized_domain(domain: str) -> str:
    return validate_email("a@" + domain, check_deliverability=False).domain


def normalize_email(address: str) -> str:
    """Syntax-check an address (no DNS) and return it lower-case; raise EmailNotValidError."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if at and domain.isascii() and len(local) <= 64 and _DOT_ATOM.fullmatch(local):
        try:
            result = f"{local}@{_normalized_domain(domain)}"
        except EmailNotValidError:
            pass  # the full check below gives the exact message
        else:
            if len(result) <= 254:
                return result.lower()
    return validate_email(address, check_deliverability=False).normalized.lower()


# --- look-ups --------------------------------------------------------------------------


def get_member(session: Session, member_id: str) -> Member:
    """The member with ``member_id``; MemberNotFound otherwise."""
    member = session.get(Member, member_id.strip())
    if member is None:
        raise MemberNotFound(_("Ingen medlem har medlemsnumret %(id)s.", id=member_id.strip()[:40]))
    return member


def find_member_by_personnummer(
    session: Session, text: str, today: date | None = None
) -> Member | None:
    """The member with this personnummer (any accepted form); PersonnummerError if malformed."""
    canonical = parse_personnummer(text, today or utcnow().date())
    lookup = keyed_hash(canonical, PNR_LOOKUP_PURPOSE)
    return session.scalars(
        select(Member).where(Member.personnummer_lookup == lookup).order_by(Member.member_id)
    ).first()


def members_by_email(session: Session, email: str) -> list[Member]:
    """Every member registered with ``email`` (a household may share one); [] if malformed."""
    try:
        address = normalize_email(email.strip())
    except EmailNotValidError:
        return []
    return list(
        session.scalars(select(Member).where(Member.email == address).order_by(Member.member_id))
    )


def member_by_email(session: Session, email: str) -> Member | None:
    """The member with ``email`` (the lowest member ID if several share it), or None."""
    found = members_by_email(session, email)
    return found[0] if found else None


def change_email(
    session: Session, member: Member, address: str, now: datetime, *, by: int | str = "cli"
) -> bool:
    """Set the member's email (checked, lower-cased) and clear a bounce mark; False if unchanged.

    Raises EmailNotValidError for a malformed address. ``by`` is the acting staff account's id
    ("cli" from the command line). The audit entry names the member only by pseudonym and holds
    neither address. A real change mails a notice to the old address and to the new one.
    """
    normalized = normalize_email(address)
    if normalized == member.email and member.email_bounced_at is None:
        return False
    previous, bounced = member.email, member.email_bounced_at is not None
    # Why clear the mark on any correction, even to the same address: the committee has
    # checked it with the member, so the next mail should be tried.
    member.email = normalized
    member.email_bounced_at = None
    member.updated_at = now
    if previous != normalized:
        member.email_changed_at = now
        # Why both: whoever reads the old mailbox learns that mail now goes elsewhere (a
        # redirected voting link cannot go unseen), and the new address learns it was added.
        # An address that bounced is not written to again.
        for to in (None if bounced else previous, normalized):
            if to:
                queue_mail(
                    session,
                    to=to,
                    subject=EMAIL_CHANGED_SUBJECT,
                    body=EMAIL_CHANGED_BODY.format(
                        first_name=member.first_name, contact=committee_contact_suffix()
                    ),
                    kind="email_changed",
                    now=now,
                    member_id=member.member_id,
                )
    voter = pseudonym(member.member_id, REGISTER_LOG)
    append(session, REGISTER_LOG, "member.email_changed", {"member": voter, "by": by}, now)
    return True


def committee_contact_suffix() -> str:
    """The committee's address and phone in brackets, to follow "contact the committee" in a
    mail (COMMITTEE_CONTACT_EMAIL, _PHONE); empty outside an app or when neither is set."""
    if not has_app_context():
        return ""
    config = current_app.config
    parts = [
        str(config[name]).strip()
        for name in ("COMMITTEE_CONTACT_EMAIL", "COMMITTEE_CONTACT_PHONE")
        if config.get(name) and str(config[name]).strip()
    ]
    return f" ({', '.join(parts)})" if parts else ""


EMAIL_CHANGED_SUBJECT = "Din e-postadress i medlemsregistret har ändrats"
EMAIL_CHANGED_BODY = (
    "Hej {first_name},\n\n"
    "Valberedningen har ändrat din e-postadress i medlemsregistret. Mejl från valet, och en ny "
    "röstlänk om du begär en, går från och med nu till den nya adressen. Samma besked går till "
    "både den gamla och den nya adressen.\n\n"
    "Bad du inte om ändringen? Kontakta valberedningen genast{contact}: någon kan försöka "
    "rösta i ditt namn.\n\n"
    "-- \nHello! The election committee changed your email address in the member register. "
    "This notice goes to both the old and the new address. If you did not ask for the change, "
    "contact the election committee at once{contact}.\n"
)


def personnummer_of(member: Member) -> str | None:
    """The member's canonical personnummer, decrypted; only for code that truly needs it."""
    if member.personnummer_enc is None:
        return None
    return decrypt(member.personnummer_enc, PNR_PURPOSE, aad=member.member_id.encode()).decode()


def masked_personnummer(member: Member) -> str | None:
    """``YYYYMMDD-****`` for display, or None when the register has no personnummer."""
    canonical = personnummer_of(member)
    return mask(canonical) if canonical else None


def member_address(member: Member) -> dict[str, str] | None:
    """The member's postal address from the register, decrypted; None if there is none."""
    if member.address_enc is None:
        return None
    plain = decrypt(member.address_enc, ADDRESS_PURPOSE, aad=member.member_id.encode())
    value = json.loads(plain)
    return {k: str(value.get(k) or "") for k in ADDRESS_FIELDS}


def member_summary(session: Session, member: Member) -> dict[str, Any]:
    """What the committee sees of a member: personnummer masked."""
    krets = session.get(Krets, member.krets_code)
    return {
        "member_id": member.member_id,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "personnummer": masked_personnummer(member),
        "krets": member.krets_code,
        "krets_name": krets.name if krets else None,
        "forening": member.forening,
        "email": member.email,
        "phone": member.phone,
        "address": member_address(member),
        "channel": member.channel,
        "updated_at": member.updated_at.isoformat(),
    }


def list_foreningar(session: Session, krets_code: str | None = None) -> list[Forening]:
    """Föreningar by name, optionally of one krets."""
    query = select(Forening).order_by(Forening.name)
    if krets_code:
        query = query.where(Forening.krets_code == krets_code)
    return list(session.scalars(query))
