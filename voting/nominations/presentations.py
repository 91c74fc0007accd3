"""The accepted nominee's presentation: its text, up to three links and a photo.

Checked at the service boundary with the same rules as the form (``rules.py``), then saved
under the election's lock; a change to an approved presentation sends it back to review.
Presentations freeze when the nomination period closes: the committee reviews, after the close,
what will be published, and a late edit can no longer send an approved nomination back to
review and so block the publication of every list (F8).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from auditlog.events import PRESENTATION_UPDATED
from voting.log.services import append
from voting.nominations.errors import NotAllowed, PresentationInvalid
from voting.nominations.models import Nomination, NominationStatus
from voting.nominations.photos import reencode
from voting.nominations.rules import MAX_LINKS, PRESENTATION_MAX, complete_link, link_problem
from voting.nominations.services import ACCEPTED, is_published, lock_nomination


def nomination_links(nomination: Nomination) -> list[str]:
    """The presentation's links, decoded from their JSON column ([] if it is not a list)."""
    try:
        value = json.loads(nomination.links or "[]")
    except ValueError:
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def clean_links(links: list[str]) -> list[str]:
    """Check the links again at the service boundary: at most three, http(s) only."""
    cleaned = [complete_link(link.strip()) for link in links if link and link.strip()]
    if len(cleaned) > MAX_LINKS:
        raise PresentationInvalid.coded("too_many_links", field="links")
    for link in cleaned:
        problem = link_problem(link)
        if problem is not None:
            raise PresentationInvalid.coded(problem, field="links")
    return cleaned


def presentation_frozen(nomination: Nomination, now: datetime) -> bool:
    """True once the presentation may no longer change: after the nomination close."""
    return is_published(nomination) or now > nomination.election.nomination_closes


def update_presentation(
    session: Session,
    nomination: Nomination,
    *,
    text: str | None,
    links: list[str],
    photo: bytes | None,
    remove_photo: bool,
    now: datetime,
) -> bool:
    """Save the accepted nominee's presentation; the photo is re-encoded. Validates all first.

    Returns True when the change sent an approved nomination back to the committee's review:
    the committee approved the presentation it read, not whatever is written afterwards.
    """
    text = (text or "").strip() or None
    if text is not None and len(text) > PRESENTATION_MAX:
        raise PresentationInvalid.coded("text_too_long", field="text", max=PRESENTATION_MAX)
    cleaned = clean_links(links)
    new_photo = reencode(photo) if photo is not None else None
    election = lock_nomination(session, nomination)
    if now > election.nomination_closes:
        raise NotAllowed.coded("presentation_closed")
    if nomination.status not in ACCEPTED:
        raise NotAllowed.coded("not_accepted")
    before = (nomination.presentation, nomination.links, nomination.photo)
    nomination.presentation = text
    nomination.links = json.dumps(cleaned) if cleaned else None
    if new_photo is not None:
        nomination.photo = new_photo
    elif remove_photo:
        nomination.photo = None
    changed = before != (nomination.presentation, nomination.links, nomination.photo)
    back_to_review = changed and nomination.status == NominationStatus.APPROVED
    if back_to_review:
        nomination.status = NominationStatus.AWAITING_REVIEW
        nomination.reviewed_at = None
    append(
        session,
        election.slug,
        PRESENTATION_UPDATED,
        {
            "nomination": nomination.id,
            "photo": nomination.photo is not None,
            "links": len(cleaned),
            "back_to_review": back_to_review,
        },
        now,
    )
    session.flush()
    return back_to_review
