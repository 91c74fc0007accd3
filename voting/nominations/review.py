"""The committee's side of nominations: review, candidate lists and their publication.

Decisions, documented here because the issue leaves them open:

- **Approve** needs the nominee's own acceptance: only ``awaiting_review`` (the nominee
  accepted) may be approved, and ``rejected`` may be approved again, so that the committee can
  correct a mistake before publication (both changes are logged). ``awaiting_nominee`` and
  ``declined`` never can: nobody becomes a candidate without saying yes.
- **Reject** is allowed from ``awaiting_review`` and ``approved``; a reason is required. The
  reason is stored on the row and mailed to the nominee, but never written to the audit log,
  since it may name people.
- **Publication** is blocked while the nomination period is open, when already published, and
  while any accepted nomination awaits review. A krets with no (or too few) approved candidates
  is only a warning: the committee may have to publish the other lists on time and hold a
  by-election there, so blocking would help nobody.
- After publication nothing on the lists changes: approve, reject and presentation edits raise
  ``CandidatesPublished`` (see ``ensure_not_published``).
- Presentations freeze earlier, at the nomination close (``presentations.py``): what the
  committee approves after the close is what is published, and no late edit can send an
  approved nomination back to review and so block publication for every krets (F8).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from auditlog import canonical_json
from auditlog.events import NOMINATION_APPROVED, NOMINATION_REJECTED
from voting.crypto import pseudonym
from voting.db import lock_row
from voting.elections.models import Contest, Election
from voting.errors import N_
from voting.log.services import append
from voting.mail.services import queue_mail
from voting.members.models import Member
from voting.nominations.errors import (
    CandidatesPublished,
    NotFound,
    ReviewError,
)
from voting.nominations.models import (
    Nomination,
    NominationStatus,
    NominationSubmission,
    SubmissionStatus,
)
from voting.staff.models import User

MAX_REASON_LENGTH = 2000
APPROVABLE = frozenset({NominationStatus.AWAITING_REVIEW, NominationStatus.REJECTED})
REJECTABLE = frozenset({NominationStatus.AWAITING_REVIEW, NominationStatus.APPROVED})


def actor(user: User | None) -> int | str:
    """Who did it, for the audit log: the staff user's id, or "cli" for the command line."""
    return user.id if user is not None else "cli"


# --- Reading -----------------------------------------------------------------------------


def list_nominations(
    session: Session, election: Election, krets: str | None = None, status: str | None = None
) -> list[Nomination]:
    """The election's nominations, by krets and name, optionally of one krets and/or status."""
    query = (
        select(Nomination)
        .join(Nomination.contest)
        .join(Nomination.member)
        .where(Nomination.election_id == election.id)
        .options(
            selectinload(Nomination.member).selectinload(Member.krets),
            selectinload(Nomination.contest),
            selectinload(Nomination.submissions).selectinload(NominationSubmission.nominator),
            selectinload(Nomination.submissions).selectinload(NominationSubmission.forening),
        )
    )
    if krets:
        if krets not in {c.krets_code for c in election.contests}:
            raise ReviewError.coded("unknown_krets", field="krets", code=krets)
        query = query.where(Contest.krets_code == krets)
    if status:
        if status not in {s.value for s in NominationStatus}:
            known = ", ".join(s.value for s in NominationStatus)
            raise ReviewError.coded("unknown_status", field="status", known=known)
        query = query.where(Nomination.status == status)
    return sorted(
        session.scalars(query),
        key=lambda n: (n.contest.krets_code, *_name_key(n), n.id),
    )


def merged_submissions(nomination: Nomination) -> list[NominationSubmission]:
    """The confirmed nominators' forms merged into this nomination (duplicates included)."""
    counted = (SubmissionStatus.CONFIRMED, SubmissionStatus.DUPLICATE)
    return sorted(
        (s for s in nomination.submissions if s.status in counted),
        key=lambda s: (s.confirmed_at or s.submitted_at, s.id),
    )


def get_nomination(session: Session, nomination_id: int) -> Nomination:
    """The nomination with ``nomination_id``, or NotFound."""
    nomination = session.get(Nomination, nomination_id)
    if nomination is None:
        raise NotFound.coded("not_found", id=nomination_id)
    return nomination


def status_counts(session: Session, election: Election) -> dict[str, Counter[str]]:
    """Per krets code, how many nominations are in each status."""
    rows = session.execute(
        select(Contest.krets_code, Nomination.status, func.count(Nomination.id))
        .join(Nomination.contest)
        .where(Nomination.election_id == election.id)
        .group_by(Contest.krets_code, Nomination.status)
    )
    counts: dict[str, Counter[str]] = {c.krets_code: Counter() for c in election.contests}
    for code, status, count in rows:
        counts.setdefault(code, Counter())[status] = count
    return counts


# Swedish alphabetical order puts å, ä, ö after z; plain code points would put ä before å.
_SWEDISH = str.maketrans({"å": "{", "ä": "|", "æ": "|", "ö": "}", "ø": "}"})


def sort_key(text: str) -> str:
    """A Swedish-alphabet sort key that every backend and an offline verifier reproduce."""
    return text.casefold().translate(_SWEDISH)


def _name_key(nomination: Nomination) -> tuple[str, str]:
    return sort_key(nomination.member.last_name), sort_key(nomination.member.first_name)


def candidate_list(session: Session, contest: Contest) -> list[Nomination]:
    """The approved nominations of ``contest`` in list order: last name, first name, id."""
    nominations = session.scalars(
        select(Nomination)
        .where(
            Nomination.contest_id == contest.id,
            Nomination.status == NominationStatus.APPROVED,
        )
        .options(selectinload(Nomination.member))
    )
    # Why sorted in Python: database collations differ between SQLite and PostgreSQL (and
    # between PostgreSQL installs), and the order is part of the hashed, published list.
    return sorted(nominations, key=lambda n: (*_name_key(n), n.id))


def canonical_list(candidates: list[Nomination]) -> bytes:
    """The bytes whose SHA-256 is a contest's ``list_hash``: canonical JSON of id and name."""
    # Ids as strings, exactly as in the manifest, so the manifest's list hashes to list_hash.
    return canonical_json([{"id": str(n.id), "name": n.member.full_name} for n in candidates])


def list_hash(candidates: list[Nomination]) -> str:
    """Hex SHA-256 of :func:`canonical_list`."""
    return hashlib.sha256(canonical_list(candidates)).hexdigest()


# --- Review ------------------------------------------------------------------------------


def ensure_not_published(election: Election) -> None:
    """Raise CandidatesPublished once the lists are frozen."""
    if election.candidates_published_at is not None:
        raise CandidatesPublished.coded("lists_published")


def _lock(session: Session, nomination: Nomination) -> Election:
    # Why lock the election row first: publication takes the same lock, so a review that
    # races a publication either lands before it (and is on the list) or sees it and stops.
    election = lock_row(session, Election, nomination.election_id)
    lock_row(session, Nomination, nomination.id)
    return election


# Each status as the review's errors name it; translated where shown (ReviewError.word_params).
STATUS_NAMES = {
    NominationStatus.AWAITING_NOMINEE: N_("väntar på kandidatens svar"),
    NominationStatus.DECLINED: N_("avböjd av kandidaten"),
    NominationStatus.AWAITING_REVIEW: N_("väntar på granskning"),
    NominationStatus.APPROVED: N_("godkänd"),
    NominationStatus.REJECTED: N_("avslagen"),
}


def _wrong_state(nomination: Nomination, code: str) -> ReviewError:
    status = STATUS_NAMES[NominationStatus(nomination.status)]
    return ReviewError.coded(code, id=nomination.id, status=status)


def approve(session: Session, nomination: Nomination, user: User | None, now: datetime) -> None:
    """Approve an accepted (or earlier rejected) nomination; mail the nominee; log it."""
    election = _lock(session, nomination)
    ensure_not_published(election)
    if nomination.status not in APPROVABLE:
        raise _wrong_state(nomination, "cannot_approve")
    nomination.status = NominationStatus.APPROVED
    nomination.reviewed_at = now
    nomination.review_reason = None
    _mail_nominee(session, nomination, election, approved=True, reason=None, now=now)
    append(
        session,
        election.slug,
        NOMINATION_APPROVED,
        {
            "nomination": nomination.id,
            "nominee": pseudonym(nomination.member_id, election.slug),
            "by": actor(user),
        },
        now,
    )
    session.flush()


def reject(
    session: Session, nomination: Nomination, user: User | None, reason: str, now: datetime
) -> None:
    """Reject a nomination with a reason (stored and mailed, never logged); log the decision."""
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError.coded("reason_missing", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise ReviewError.coded("reason_too_long", field="reason", n=MAX_REASON_LENGTH)
    election = _lock(session, nomination)
    ensure_not_published(election)
    if nomination.status not in REJECTABLE:
        raise _wrong_state(nomination, "cannot_reject")
    nomination.status = NominationStatus.REJECTED
    nomination.reviewed_at = now
    nomination.review_reason = reason
    _mail_nominee(session, nomination, election, approved=False, reason=reason, now=now)
    # Why no reason in the log: it is free text about a person; the row keeps it instead.
    append(
        session,
        election.slug,
        NOMINATION_REJECTED,
        {
            "nomination": nomination.id,
            "nominee": pseudonym(nomination.member_id, election.slug),
            "by": actor(user),
        },
        now,
    )
    session.flush()


def _mail_nominee(
    session: Session,
    nomination: Nomination,
    election: Election,
    *,
    approved: bool,
    reason: str | None,
    now: datetime,
) -> None:
    # The nominee's language is unknown, so the mail is in Swedish with English below; the
    # committee member's web language must not choose it.
    member = nomination.member
    if not member.email:
        return
    krets = nomination.contest.krets.name
    if approved:
        subject = f"Din kandidatur har godkänts – {election.title}"
        body = (
            f"Hej {member.first_name}!\n\n"
            f"Valberedningen har godkänt din kandidatur i {election.title}, krets {krets}.\n"
            "Du kommer med på kandidatlistan när valberedningen publicerar listorna.\n\n"
            "---\n"
            f"The election committee has approved your candidacy in {election.title}, "
            f"constituency {krets}. You will be on the list once the committee publishes the "
            "lists.\n"
        )
    else:
        subject = f"Din nominering har avslagits – {election.title}"
        body = (
            f"Hej {member.first_name}!\n\n"
            f"Valberedningen har avslagit din nominering i {election.title}, krets {krets}.\n\n"
            f"Skäl:\n{reason}\n\n"
            "Hör av dig till valberedningen om du har frågor.\n\n"
            "---\n"
            f"The election committee has rejected your nomination in {election.title}, "
            f"constituency {krets}. The reason is given above in Swedish.\n"
        )
    queue_mail(
        session,
        to=member.email,
        subject=subject,
        body=body,
        kind="nomination_approved" if approved else "nomination_rejected",
        now=now,
        election_id=election.id,
        member_id=member.member_id,
    )
