"""The nomination period, seen from the public side: submit, confirm, the nominee's answer.

The questionnaire page never tells whether an address or a nominee is in the register; every
outcome that depends on the register is told only by email, to the address that was typed.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditlog.events import NOMINATION_ACCEPTED, NOMINATION_CONFIRMED, NOMINATION_DECLINED
from voting.crypto import nominator_pseudonym, pseudonym, token_hash
from voting.db import insert_for, lock_row
from voting.elections.models import Contest, Election
from voting.log.services import append
from voting.mail.services import queue_mail
from voting.members.errors import PersonnummerError
from voting.members.models import Forening, Krets, Member
from voting.members.services import find_member_by_personnummer, members_by_email
from voting.nominations import emails
from voting.nominations.errors import LinkInvalid, NominationClosed, NotAllowed
from voting.nominations.mail_rules import is_registered_address, mail_capped, refuse
from voting.nominations.models import (
    Nomination,
    NominationStatus,
    NominationSubmission,
    SubmissionStatus,
)
from voting.nominations.rules import looks_like_personnummer
from voting.tokens import LinkToken, Purpose, TokenError, issue, redeem

# While a fresh, unused link sent less than this ago waits in the nominee's inbox, reopening an
# old link sends no other (so an old link cannot be used to flood the nominee's inbox).
RESEND_INTERVAL = timedelta(minutes=10)
ACCEPTED = frozenset({NominationStatus.AWAITING_REVIEW, NominationStatus.APPROVED})


class Outcome(enum.StrEnum):
    """What a valid questionnaire led to; told to the nominator by email only."""

    CONFIRMATION_SENT = "confirmation_sent"
    NOMINATOR_UNKNOWN = "nominator_unknown"
    NOMINEE_UNKNOWN = "nominee_unknown"
    KRETS_MISMATCH = "krets_mismatch"
    NO_CONTEST = "no_contest"
    NOMINEE_UNREACHABLE = "nominee_unreachable"
    NOT_MAILED = "not_mailed"  # the address is in no register: nobody is mailed (F6)
    MAIL_CAPPED = "mail_capped"  # the address had its day's share of questionnaire mail


@dataclass(frozen=True)
class SubmissionInput:
    """The questionnaire's values, already format-checked by the form."""

    nominator_email: str
    as_forening: bool
    forening_id: int | None
    first_name: str
    last_name: str
    identifier: str
    motivation: str | None


@dataclass(frozen=True)
class Confirmed:
    submission: NominationSubmission
    nomination: Nomination
    duplicate: bool
    new_nomination: bool


class LinkResult(enum.StrEnum):
    OPENED = "opened"
    ALREADY_HERE = "already_here"
    RESENT = "resent"
    RECENTLY_SENT = "recently_sent"


# --- Reading -------------------------------------------------------------------------------


def forening_groups(session: Session) -> list[tuple[str, list[tuple[int, str]]]]:
    """The föreningar for the questionnaire, grouped by krets name, both sorted by name."""
    rows = session.execute(
        select(Forening.id, Forening.name, Krets.name)
        .join(Krets, Forening.krets_code == Krets.code)
        .order_by(Krets.name, Forening.name)
    )
    groups: dict[str, list[tuple[int, str]]] = {}
    for forening_id, name, krets_name in rows:
        groups.setdefault(krets_name, []).append((forening_id, name))
    return list(groups.items())


def is_published(nomination: Nomination) -> bool:
    """True once the nominee's list is published (the election's lists, or this contest's)."""
    return (
        nomination.election.candidates_published_at is not None
        or nomination.contest.list_hash is not None
    )


def published_contests(
    session: Session, election: Election
) -> list[tuple[Contest, list[Nomination]]]:
    """Each published contest with its approved candidates, in the published list order."""
    # Imported here: review.py is the committee's module and pulls in the admin feature.
    from voting.nominations.review import candidate_list, sort_key

    contests = [
        c for c in election.contests if election.candidates_published_at or c.list_hash is not None
    ]
    ordered = sorted(contests, key=lambda c: sort_key(c.krets.name))
    return [(contest, candidate_list(session, contest)) for contest in ordered]


def may_see_photo(nomination: Nomination, session_nomination_id: int | None) -> bool:
    """Published approved candidates' photos are public; otherwise only the nominee sees it."""
    if session_nomination_id == nomination.id:
        return True
    return nomination.status == NominationStatus.APPROVED and is_published(nomination)


# --- The questionnaire ---------------------------------------------------------------------


def require_open(election: Election, now: datetime) -> None:
    """Raise NominationClosed unless ``now`` is in the nomination window."""
    if election.nomination_open(now):
        return
    if election.candidates_published_at is None and now < election.nomination_opens:
        raise NominationClosed.coded("not_open")
    raise NominationClosed.coded("closed")


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def names_match(member: Member, first_name: str, last_name: str) -> bool:
    """Same last name, and the given first name(s) among the member's first names (casefold)."""
    if _norm(last_name) != _norm(member.last_name):
        return False
    given, registered = _norm(first_name), _norm(member.first_name)
    if not given:
        return False
    return given == registered or set(given.split()) <= set(registered.split())


def find_nominee(
    session: Session, identifier: str, first_name: str, last_name: str, now: datetime
) -> Member | None:
    """The member the identifier (personnummer, else member ID) names, if the names match."""
    identifier = identifier.strip()
    member = None
    if looks_like_personnummer(identifier):
        try:
            member = find_member_by_personnummer(session, identifier, now.date())
        except PersonnummerError:
            member = None
    if member is None and len(identifier) <= 40:
        # A member ID may itself look like a personnummer (all digits), so try it too.
        member = session.get(Member, identifier)
    if member is None or not names_match(member, first_name, last_name):
        return None
    return member


def _contest_for(session: Session, election: Election, krets_code: str) -> Contest | None:
    return session.scalars(
        select(Contest).where(Contest.election_id == election.id, Contest.krets_code == krets_code)
    ).one_or_none()


def _entered(
    election: Election, data: SubmissionInput, forening: Forening | None, config: Mapping[str, Any]
) -> emails.Entered:
    form_link = f"{str(config['BASE_URL']).rstrip('/')}/val/{election.slug}/nominera"
    return emails.Entered(
        as_forening=data.as_forening,
        forening_name=forening.name if forening is not None else None,
        first_name=data.first_name,
        last_name=data.last_name,
        identifier=data.identifier,
        identifier_is_personnummer=looks_like_personnummer(data.identifier),
        motivation=data.motivation,
        form_link=form_link,
    )


def submit(
    session: Session,
    election: Election,
    data: SubmissionInput,
    now: datetime,
    config: Mapping[str, Any],
) -> Outcome:
    """Check a questionnaire against the register; store it unconfirmed or mail why not.

    Only the nominator's own address is ever mailed, and only if it is in the register (a
    member's, or a förening's contact address), at most ``MAILS_PER_ADDRESS_DAY`` a day. So
    nobody learns from the page whether an address or a nominee is in the register, and the
    form cannot be used to send the committee's mail to strangers (F6).
    """
    require_open(election, now)
    email = data.nominator_email.strip().lower()
    # Why not mail an unregistered address at all: it belongs to nobody the party knows, and
    # a mail there would only serve whoever typed it (F6). The page says the same either way.
    if not is_registered_address(session, email):
        return Outcome.NOT_MAILED
    if mail_capped(session, email, now, config):
        return Outcome.MAIL_CAPPED
    krets_of_nominator: set[str]
    candidates: list[Member] = []
    nominator: Member | None = None
    forening: Forening | None = None
    if data.as_forening:
        chosen = session.get(Forening, data.forening_id) if data.forening_id else None
        entered = _entered(election, data, chosen, config)
        if chosen is None or (chosen.contact_email or "").strip().lower() != email:
            mail = emails.nominator_unknown(election, True, entered)
            return refuse(session, election, email, mail, Outcome.NOMINATOR_UNKNOWN, now)
        forening = chosen
        krets_of_nominator = {forening.krets_code}
        krets_name = forening.krets.name
    else:
        entered = _entered(election, data, None, config)
        # Members of one household may share an address; any of them may be the nominator.
        candidates = members_by_email(session, email)
        if not candidates:
            mail = emails.nominator_unknown(election, False, entered)
            return refuse(session, election, email, mail, Outcome.NOMINATOR_UNKNOWN, now)
        krets_of_nominator = {m.krets_code for m in candidates}
        krets_name = ", ".join(sorted({m.krets.name for m in candidates}))

    nominee = find_nominee(session, data.identifier, data.first_name, data.last_name, now)
    # The nominee's krets is the register's, never anything from the form. Why one outcome for
    # "nobody" and "somebody in another krets": two would tell whether the person typed is a
    # party member elsewhere (F7).
    if nominee is None or nominee.krets_code not in krets_of_nominator:
        mail = emails.nominee_not_found(election, forening is not None, krets_name, entered)
        outcome = Outcome.NOMINEE_UNKNOWN if nominee is None else Outcome.KRETS_MISMATCH
        return refuse(session, election, email, mail, outcome, now)
    if forening is None:
        nominator = next(m for m in candidates if m.krets_code == nominee.krets_code)
    contest = _contest_for(session, election, nominee.krets_code)
    if contest is None:
        mail = emails.no_contest(election, entered)
        return refuse(session, election, email, mail, Outcome.NO_CONTEST, now)
    if not nominee.email:
        mail = emails.nominee_unreachable(election, entered)
        return refuse(session, election, email, mail, Outcome.NOMINEE_UNREACHABLE, now)

    submission = NominationSubmission(
        election_id=election.id,
        nominee_member_id=nominee.member_id,
        nominator_member_id=nominator.member_id if nominator else None,
        forening_id=forening.id if forening else None,
        # The questionnaire no longer asks (the nominee always answers for themself); the
        # column stays for the submissions made before, and is False from now on.
        nominator_says_accepted=False,
        motivation=data.motivation or None,
        status=SubmissionStatus.UNCONFIRMED,
        submitted_at=now,
    )
    session.add(submission)
    session.flush()
    expires = now + timedelta(hours=int(config["NOMINATION_CONFIRM_HOURS"]))
    token = issue(session, Purpose.CONFIRM_NOMINATION, submission.id, now, expires)
    link = f"{str(config['BASE_URL']).rstrip('/')}/nominera/bekrafta/{token}"
    subject, body = emails.confirm_request(
        election, link, expires, f"{data.first_name} {data.last_name}", nominee.krets.name
    )
    queue_mail(
        session,
        to=email,
        subject=subject,
        body=body,
        kind="nomination_confirm",
        now=now,
        election_id=election.id,
        member_id=nominator.member_id if nominator else None,
    )
    return Outcome.CONFIRMATION_SENT


# --- Confirmation --------------------------------------------------------------------------


def _link_invalid(reason: str) -> LinkInvalid:
    return LinkInvalid.coded(reason if reason in {"used", "expired", "revoked"} else "unknown")


def _lock_election(session: Session, election_id: int) -> Election:
    # Why lock the election row: publication takes the same lock, so a change racing a
    # publication either lands before it or sees it and stops (see review.py).
    return lock_row(session, Election, election_id)


def get_or_create_nomination(
    session: Session, election: Election, contest: Contest, member_id: str, now: datetime
) -> tuple[Nomination, bool]:
    """The nomination of ``member_id`` in ``election``, made if missing; safe under races."""
    insert = insert_for(session)
    # Why INSERT ... ON CONFLICT: two nominators confirming the same nominee at the same moment
    # must end in one candidate; the unique constraint decides, not a prior SELECT.
    result = session.execute(
        insert(Nomination)
        .values(
            election_id=election.id,
            contest_id=contest.id,
            member_id=member_id,
            status=NominationStatus.AWAITING_NOMINEE.value,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["election_id", "member_id"])
        .returning(Nomination.id)
    )
    # RETURNING yields a row only when this statement inserted it (rowcount is unreliable).
    created = result.scalar_one_or_none() is not None
    nomination = session.scalars(
        select(Nomination)
        .where(Nomination.election_id == election.id, Nomination.member_id == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return nomination, created


def confirm(session: Session, token: str, now: datetime, config: Mapping[str, Any]) -> Confirmed:
    """Redeem a confirmation link: the submission joins (or creates) the nominee's nomination."""
    try:
        row = redeem(session, Purpose.CONFIRM_NOMINATION, token, now)
    except TokenError as exc:
        raise _link_invalid(exc.reason) from exc
    submission = session.get(NominationSubmission, row.subject_id)
    if submission is None or submission.status != SubmissionStatus.UNCONFIRMED:
        raise _link_invalid("used")
    election = _lock_election(session, submission.election_id)
    if election.candidates_published_at is not None:
        raise NominationClosed.coded("closed_published")
    # The submission time counts: a link opened after the deadline still confirms.
    if not election.nomination_opens <= submission.submitted_at <= election.nomination_closes:
        raise NominationClosed.coded("sent_outside_period")
    nominee = submission.nominee
    contest = _contest_for(session, election, nominee.krets_code)
    if contest is None or contest.list_hash is not None:
        raise NotAllowed.coded("krets_closed")
    nomination, created = get_or_create_nomination(
        session, election, contest, nominee.member_id, now
    )
    same_nominator = (
        NominationSubmission.nominator_member_id == submission.nominator_member_id
        if submission.nominator_member_id
        else NominationSubmission.forening_id == submission.forening_id
    )
    earlier = session.scalar(
        select(func.count(NominationSubmission.id)).where(
            NominationSubmission.nomination_id == nomination.id,
            NominationSubmission.status == SubmissionStatus.CONFIRMED,
            same_nominator,
        )
    )
    duplicate = bool(earlier)
    submission.status = SubmissionStatus.DUPLICATE if duplicate else SubmissionStatus.CONFIRMED
    submission.confirmed_at = now
    submission.nomination_id = nomination.id
    if created:
        _send_nominee_link(session, nomination, election, now, config, first=True)
    nominator = (
        {"nominator": nominator_pseudonym(submission.nominator_member_id, election.slug)}
        if submission.nominator_member_id
        else {"forening": submission.forening_id}
    )
    append(
        session,
        election.slug,
        NOMINATION_CONFIRMED,
        {
            "submission": submission.id,
            "nomination": nomination.id,
            "nominee": pseudonym(nominee.member_id, election.slug),
            "contest": contest.id,
            "duplicate": duplicate,
            "new_nomination": created,
            **nominator,
        },
        now,
    )
    session.flush()
    return Confirmed(submission, nomination, duplicate, created)


# --- The nominee ---------------------------------------------------------------------------


def _send_nominee_link(
    session: Session,
    nomination: Nomination,
    election: Election,
    now: datetime,
    config: Mapping[str, Any],
    *,
    first: bool,
) -> None:
    expires = now + timedelta(days=int(config["NOMINEE_LINK_DAYS"]))
    token = issue(session, Purpose.NOMINEE, nomination.id, now, expires)
    link = f"{str(config['BASE_URL']).rstrip('/')}/kandidat/{token}"
    member = session.get(Member, nomination.member_id)
    if member is None or not member.email:
        return
    if first:
        contest = session.get(Contest, nomination.contest_id)
        krets_name = contest.krets.name if contest else ""
        subject, body = emails.nominee_invitation(election, krets_name, link, expires)
    else:
        subject, body = emails.nominee_new_link(election, link, expires)
    queue_mail(
        session,
        to=member.email,
        subject=subject,
        body=body,
        kind="nominee_invite" if first else "nominee_link",
        now=now,
        election_id=election.id,
        member_id=member.member_id,
    )


def open_nominee_link(
    session: Session,
    token: str,
    now: datetime,
    config: Mapping[str, Any],
    session_nomination_id: int | None,
) -> tuple[LinkResult, int]:
    """Redeem a nominee link; return what happened and the nomination's id.

    Links are single-use, yet nominees reopen their mail. So:

    - first opening: the token is used up and the caller puts the nomination in the session;
    - reopened in the browser whose session already holds this nomination: nothing to do
      (the token's hash must name that very nomination before the session is trusted);
    - reopened elsewhere, or after expiry: a fresh link is mailed to the nominee's registered
      address (never to whoever holds the old link), at most once per ``RESEND_INTERVAL``.
      Whoever has an old link thus gains nothing but a mail to the nominee.
    """
    row = session.scalars(
        select(LinkToken).where(
            LinkToken.token_hash == token_hash(token), LinkToken.purpose == Purpose.NOMINEE.value
        )
    ).one_or_none()
    if (
        row is not None
        and session_nomination_id is not None
        and row.subject_id == session_nomination_id
        and row.used_at is not None
        and row.revoked_at is None
    ):
        return LinkResult.ALREADY_HERE, row.subject_id
    try:
        row = redeem(session, Purpose.NOMINEE, token, now)
        return LinkResult.OPENED, row.subject_id
    except TokenError as exc:
        if exc.reason not in {"used", "expired"} or exc.token is None:
            # A revoked nominee link says so; any other is unknown, whatever the token's state.
            raise _link_invalid("revoked" if exc.reason == "revoked" else "unknown") from exc
        nomination_id = exc.token.subject_id
    nomination = session.get(Nomination, nomination_id)
    if nomination is None:
        raise _link_invalid("unknown")
    recent = session.scalar(
        select(func.count(LinkToken.id)).where(
            LinkToken.purpose == Purpose.NOMINEE.value,
            LinkToken.subject_id == nomination.id,
            LinkToken.used_at.is_(None),
            LinkToken.created_at > now - RESEND_INTERVAL,
        )
    )
    if recent:
        return LinkResult.RECENTLY_SENT, nomination.id
    election = session.get(Election, nomination.election_id)
    assert election is not None  # noqa: S101 - the foreign key guarantees it
    _send_nominee_link(session, nomination, election, now, config, first=False)
    return LinkResult.RESENT, nomination.id


def lock_nomination(session: Session, nomination: Nomination) -> Election:
    """Lock the election and the nomination; NotAllowed once the lists are published."""
    election = _lock_election(session, nomination.election_id)
    lock_row(session, Nomination, nomination.id)
    if is_published(nomination):
        raise NotAllowed.coded("lists_published")
    return election


def respond(session: Session, nomination: Nomination, accept: bool, now: datetime) -> None:
    """The nominee accepts or declines. Both are final; the lists must not be published yet."""
    election = lock_nomination(session, nomination)
    if nomination.status != NominationStatus.AWAITING_NOMINEE:
        raise NotAllowed.coded("already_answered")
    nomination.status = NominationStatus.AWAITING_REVIEW if accept else NominationStatus.DECLINED
    nomination.responded_at = now
    append(
        session,
        election.slug,
        NOMINATION_ACCEPTED if accept else NOMINATION_DECLINED,
        {"nomination": nomination.id, "nominee": pseudonym(nomination.member_id, election.slug)},
        now,
    )
    session.flush()
