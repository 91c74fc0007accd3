"""A member's email address changed by the committee: the change, its log entry, and the notice
to both mailboxes (here, in mail/, because the notice is mail; the register below knows no mail).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from voting.crypto import pseudonym
from voting.log.services import REGISTER_LOG, append
from voting.mail.services import queue_mail
from voting.members.models import Member
from voting.members.services import committee_contact_suffix, normalize_email

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
