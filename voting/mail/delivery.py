"""Deliver the outbox: claim due messages, send them over SMTP (or into the local sink), record.

A batch runs in three kinds of short transactions, never one long one:

1. *claim*: select up to ``CLAIM_CHUNK`` due rows (on PostgreSQL ``FOR UPDATE SKIP LOCKED``,
   so that several workers share the queue without waiting on each other) and push their
   ``next_attempt_at`` a lease ahead of the clock as read for this claim, so that no other
   worker picks them up meanwhile;
2. *send* each message, outside any transaction (a slow SMTP server must not hold the SQLite
   write lock that every web request needs), paced by a ``RateLimiter``;
3. *record* the outcomes in small batches (``MAIL_RECORD_BATCH`` messages, or after a second,
   or at the end of the claim, whichever comes first), each batch in one commit; a refused
   recipient marks the member's address as bounced in that same commit.

A crash between send and record leaves the rows queued with their lease; they are retried when
the lease runs out. That is at-least-once delivery, the best SMTP allows: at most one record
batch (``MAIL_RECORD_BATCH``, 1 = every message alone) can be sent twice, and only after a
crash. Without a crash no message is sent twice: a claimed row is invisible to other workers
until its lease ends, and the lease is far longer than a claim takes to send.

Why a clock and not a time: a run reads the clock at each claim, each send and each record
batch. A send-out of 9,000 mails at 600 a minute runs longer than the lease; with one moment
taken at the start, its later claims wrote leases that had already run out, and a second
worker took and sent the same rows again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from voting.crypto import decrypt
from voting.mail.errors import PermanentFailure, RecipientRejected, TemporaryFailure
from voting.mail.models import MailStatus, OutboxMessage
from voting.mail.pacing import RateLimiter
from voting.mail.services import BODY_KEY
from voting.mail.transports import Clock, Transport, make_transport
from voting.members.models import Member
from voting.stopflag import StopFlag

log = logging.getLogger(__name__)

CLAIM_CHUNK = 50
# Long enough for a chunk at SMTP_TIMEOUT per message; a crashed worker's claim expires after it.
LEASE = timedelta(minutes=15)
MAX_BACKOFF = timedelta(hours=6)


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` run did: counts only, never addresses."""

    sent: int = 0
    failed: int = 0
    retry: int = 0
    ids: dict[str, list[int]] = field(
        default_factory=lambda: {"sent": [], "failed": [], "retry": []}
    )

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.retry

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"sent {self.sent}, failed {self.failed}, retry later {self.retry}"


@dataclass(frozen=True)
class _Claimed:
    id: int
    to_addr: str
    subject: str
    body: str
    attempts: int
    member_id: str | None = None


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 2^attempts minutes, at most 6 h."""
    if attempts >= 9:  # 2^9 min > 6 h; also keeps the power small
        return MAX_BACKOFF
    return min(timedelta(minutes=2**attempts), MAX_BACKOFF)


@contextmanager
def _session_scope(session_or_factory: Session | Callable[[], Session]) -> Iterator[Session]:
    if isinstance(session_or_factory, Session):
        yield session_or_factory
        return
    session = session_or_factory()
    try:
        yield session
    finally:
        session.close()


def _claim(
    session: Session, config: Mapping[str, Any], now: datetime, limit: int, report: DeliveryReport
) -> tuple[int, list[_Claimed]]:
    """Take up to ``limit`` due messages for this worker; committed before anything is sent.

    Returns how many rows were taken and the sendable ones among them.
    """
    query = (
        select(
            OutboxMessage.id,
            OutboxMessage.to_addr,
            OutboxMessage.subject,
            OutboxMessage.body_enc,
            OutboxMessage.attempts,
            OutboxMessage.member_id,
        )
        .where(OutboxMessage.status == MailStatus.QUEUED, OutboxMessage.next_attempt_at <= now)
        # Why no tie-break on id: ix_outbox_due (status, next_attempt_at) then serves the
        # claim with an index scan that stops after ``limit`` rows; with "id" added, PostgreSQL
        # sorts every due row for each claim (100,000 after a send-out of voting links).
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Why SKIP LOCKED: a second worker takes the next rows instead of queueing behind us.
        query = query.with_for_update(skip_locked=True)
    try:
        rows = session.execute(query).all()
        claimed, unreadable = [], []
        for row in rows:
            try:
                if row.body_enc is None:
                    raise ValueError("no body")
                body = decrypt(row.body_enc, BODY_KEY, data_key=config["DATA_KEY"]).decode()
            except (InvalidTag, ValueError) as exc:
                unreadable.append((row.id, exc.__class__.__name__))
                continue
            claimed.append(
                _Claimed(row.id, row.to_addr, row.subject, body, row.attempts, row.member_id)
            )
        for message_id, error in unreadable:
            # Unreadable (DATA_KEY changed?): it never will be sendable; the ciphertext
            # stays, so that restoring the old key can still recover it.
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(
                    status=MailStatus.FAILED,
                    last_error=f"unreadable body: {error}; check DATA_KEY",
                )
            )
            report.failed += 1
            report.ids["failed"].append(message_id)
        if claimed:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([item.id for item in claimed]))
                .values(next_attempt_at=now + LEASE)
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(rows), claimed


@dataclass
class _Outcome:
    item: _Claimed
    values: dict[str, Any]
    bounced: bool = False


class _Recorder:
    """Collects outcomes and writes them in small batches, each in one transaction."""

    def __init__(self, session: Session, clock: Clock, batch: int) -> None:
        self.session = session
        self.clock = clock
        self.batch = max(1, batch)
        self.pending: list[_Outcome] = []
        self.first_at = 0.0

    def add(self, outcome: _Outcome) -> None:
        if not self.pending:
            self.first_at = time.monotonic()
        self.pending.append(outcome)
        # Why also after a second: a slow, paced worker must not hold sent-but-unrecorded
        # messages for long; those are the ones a crash would send twice.
        if len(self.pending) >= self.batch or time.monotonic() - self.first_at >= 1.0:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        session = self.session
        now = _read(self.clock)
        try:
            sent = [o.item.id for o in pending if o.values.get("status") == MailStatus.SENT]
            if sent:
                # One statement for the common case; the guard on status keeps a row that an
                # operator failed meanwhile from being counted twice.
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(sent), OutboxMessage.status == MailStatus.QUEUED)
                    .values(
                        status=MailStatus.SENT,
                        sent_at=now,
                        attempts=OutboxMessage.attempts + 1,
                        body_enc=None,
                        last_error=None,
                    )
                )
            for outcome in pending:
                if outcome.values.get("status") == MailStatus.SENT:
                    continue
                session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == outcome.item.id,
                        OutboxMessage.status == MailStatus.QUEUED,
                    )
                    .values(**outcome.values)
                )
                if outcome.bounced and outcome.item.member_id is not None:
                    # In the same commit as the outcome. Only while the member still has the
                    # refused address: a correction made meanwhile must not be marked.
                    session.execute(
                        update(Member)
                        .where(
                            Member.member_id == outcome.item.member_id,
                            Member.email == outcome.item.to_addr,
                            Member.email_bounced_at.is_(None),
                        )
                        .values(email_bounced_at=now)
                    )
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _release(session: Session, ids: list[int], now: datetime) -> None:
    """Hand claimed but unsent messages back to the queue at once (the worker is stopping)."""
    if not ids:
        return
    try:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == MailStatus.QUEUED)
            .values(next_attempt_at=now)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise


def deliver_due(
    session_or_factory: Session | Callable[[], Session],
    config: Mapping[str, Any],
    clock: Clock,
    limit: int | None = None,
    *,
    limiter: RateLimiter | None = None,
    stop: StopFlag | threading.Event | None = None,
) -> DeliveryReport:
    """Send queued messages as they fall due (at most ``limit``); outcomes committed in batches.

    ``clock`` returns the current aware UTC time (the app's CLOCK); it is read for each claim,
    each message and each record batch, so that a lease always runs from the moment it is
    taken. Give a session with no work pending, or a sessionmaker: this function commits.
    Sends are paced by ``limiter`` (default: one made from MAIL_RATE_PER_MINUTE; a worker
    passes the same one to every call so that the pace holds across calls). Once ``stop`` is
    set, the message on the wire is finished and recorded, and the rest of the claim goes
    back to the queue.
    """
    if isinstance(clock, datetime) or not callable(clock):
        # A fixed moment here is the bug this signature exists to prevent (see the docstring).
        raise TypeError("deliver_due takes a clock (a callable returning the time), not a time")
    report = DeliveryReport()
    transport = make_transport(config, clock)
    max_attempts = int(config.get("MAIL_MAX_ATTEMPTS", 6))
    if limiter is None:
        limiter = RateLimiter.from_config(config)
    remaining = limit
    try:
        with _session_scope(session_or_factory) as session:
            recorder = _Recorder(session, clock, int(config.get("MAIL_RECORD_BATCH", 20)))
            stopped = False
            while (remaining is None or remaining > 0) and not (
                stopped or (stop and stop.is_set())
            ):
                size = limiter.claim_size(int(config.get("MAIL_CLAIM_CHUNK") or CLAIM_CHUNK))
                chunk = size if remaining is None else min(size, remaining)
                taken, claimed = _claim(session, config, _read(clock), chunk, report)
                if not taken:
                    break
                if remaining is not None:
                    remaining -= taken
                for index, item in enumerate(claimed):
                    # before_wait: do not sit on unrecorded sends while waiting for the rate.
                    stopped = not limiter.acquire(before_wait=recorder.flush) or bool(
                        stop and stop.is_set()
                    )
                    if stopped:
                        recorder.flush()
                        _release(session, [i.id for i in claimed[index:]], _read(clock))
                        break
                    outcome = _deliver_one(
                        transport, config, item, _read(clock), max_attempts, report
                    )
                    recorder.add(outcome)
                recorder.flush()
    finally:
        transport.close()
    if report.total:
        log.info("outbox: %s", report)  # counts only: no addresses or bodies in the logs
    return report


def _read(clock: Clock) -> datetime:
    """The clock's time now; refuses a naive one, which would compare wrongly with the rows."""
    now = clock()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the mail clock must return an aware datetime (UTC)")
    return now


def _deliver_one(
    transport: Transport,
    config: Mapping[str, Any],
    item: _Claimed,
    now: datetime,
    max_attempts: int,
    report: DeliveryReport,
) -> _Outcome:
    attempts = item.attempts + 1
    try:
        message = transport.build(
            config, item.to_addr, item.subject, item.body, now, message_id=item.id
        )
        transport.deliver(message, item.to_addr, item.id)
    except PermanentFailure as exc:
        report.failed += 1
        report.ids["failed"].append(item.id)
        log.warning("outbox message %s rejected permanently", item.id)
        # Why wipe on failure too: the link token in the body was never delivered and is
        # no use to anyone but an intruder; the row keeps the error for the operator.
        return _Outcome(
            item,
            {
                "status": MailStatus.FAILED,
                "attempts": attempts,
                "last_error": str(exc),
                "body_enc": None,
            },
            bounced=isinstance(exc, RecipientRejected),
        )
    except TemporaryFailure as exc:
        error = str(exc)
        if attempts >= max_attempts:
            report.failed += 1
            report.ids["failed"].append(item.id)
            log.warning("outbox message %s failed after %s attempts", item.id, attempts)
            return _Outcome(
                item,
                {
                    "status": MailStatus.FAILED,
                    "attempts": attempts,
                    "last_error": f"gave up after {attempts} attempts: {error}",
                    "body_enc": None,
                },
            )
        report.retry += 1
        report.ids["retry"].append(item.id)
        return _Outcome(
            item,
            {"attempts": attempts, "last_error": error, "next_attempt_at": now + backoff(attempts)},
        )
    report.sent += 1
    report.ids["sent"].append(item.id)
    # Why wipe the body: it holds a link token, which must not stay at rest once delivered.
    return _Outcome(item, {"status": MailStatus.SENT})


def outbox_counts(session: Session, now: datetime) -> dict[str, int]:
    """Messages per status, plus how many queued ones are due at ``now``."""
    counts = {status.value: 0 for status in MailStatus}
    for status, count in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ):
        counts[status] = count
    counts["due"] = (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == MailStatus.QUEUED, OutboxMessage.next_attempt_at <= now)
        )
        or 0
    )
    return counts
