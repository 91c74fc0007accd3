"""The member register's look-ups: by member ID, personnummer or email; the checked email
change; the masked personnummer and the summary the committee sees; the föreningar list.

The CSV import is in ``voting.members.importing``.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from voting.crypto import decrypt, keyed_hash
from voting.db import utcnow
from voting.members.errors import MemberNotFound
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
        raise MemberNotFound.coded("member_not_found", id=member_id.strip()[:40])
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
