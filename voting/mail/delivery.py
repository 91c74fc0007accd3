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

import binascii
import email.errors
import logging
import math
import os
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import limits.strategies
from cryptography.exceptions import InvalidTag
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import (
    MemoryStorage,
    RedisClusterStorage,
    RedisSentinelStorage,
    RedisStorage,
    Storage,
    storage_from_string,
)
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from voting.crypto import decrypt
from voting.mail.models import REJECTED_PREFIX, MailStatus, OutboxMessage
from voting.mail.services import BODY_KEY
from voting.members.models import Member
from voting.stopflag import StopFlag

log = logging.getLogger(__name__)

CLAIM_CHUNK = 50
# Long enough for a chunk at SMTP_TIMEOUT per message; a crashed worker's claim expires after it.
LEASE = timedelta(minutes=15)
MAX_BACKOFF = timedelta(hours=6)
SINK_NAME_RE = re.compile(r"^\d{8}T\d{6}\d{6}Z-\d{6,}\.eml$")
# Apart from Flask-Limiter's keys in the same storage; MAIL_RATE_KEY_PREFIX overrides it.
MAIL_RATE_KEY_PREFIX = "kongressval:mail"

# The current time as an aware UTC datetime: the app's CLOCK, or a test's settable clock.
Clock = Callable[[], datetime]


class DeliveryError(Exception):
    """Base of the outbox's delivery errors."""


class TemporaryFailure(DeliveryError):
    """Try again later: connection trouble or a 4xx reply."""


class PermanentFailure(DeliveryError):
    """The server refused the message for good (5xx for the recipient or the data)."""


class RecipientRejected(PermanentFailure):
    """The server refused the recipient's address for good (5xx to RCPT TO): a bounce."""


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


class RateLimiter:
    """At most ``per_minute`` sends a minute, in bursts of at most a second's worth.

    Counted by the ``limits`` library in the storage of the web's rate limits
    (RATELIMIT_STORAGE_URI, with RATELIMIT_STORAGE_OPTIONS), under the key prefix
    ``kongressval:mail``. With Redis every worker, on every host, draws from one budget: the
    SMTP provider's limit is per account, not per process. With ``memory://`` (development)
    each limiter, that is each worker process, has its own budget. Two moving windows: at most
    ceil(per_minute / 60) sends in any second (so 600/min goes 10 at a time, not 600), and, when
    ``per_minute`` is not a multiple of 60, at most ``per_minute`` in any minute. The entries
    carry each host's wall clock, so hosts sharing a Redis need synchronised clocks (NTP).

    If the shared storage cannot be reached (2 s timeouts from RATELIMIT_STORAGE_OPTIONS), the
    limiter logs a warning and counts in this process's memory instead, so that the worker
    neither hangs nor dies. The limit is then per worker again (N workers send up to N times
    the rate) until the storage answers again; it is asked every ``RECHECK`` seconds.

    ``per_minute`` 0 means no limit (and no storage). ``clock`` (wall time, as the storages'
    entries) and ``sleep`` are injectable for tests; the worker passes its stop flag's ``wait``
    as ``sleep`` so that SIGTERM is not held up.
    """

    RECHECK = 30.0
    # Why a little past the window's end: an entry exactly one window old still counts.
    MARGIN = 0.001

    def __init__(
        self,
        per_minute: int,
        *,
        storage_uri: str = "memory://",
        storage_options: Mapping[str, Any] | None = None,
        key_prefix: str = MAIL_RATE_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if per_minute < 0:
            raise ValueError("the rate must be 0 (no limit) or more")
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self.burst = max(1, math.ceil(per_minute / 60)) if per_minute else 0
        self.items: list[RateLimitItem] = []
        self._fallback: limits.strategies.RateLimiter | None = None
        self._recheck_at = 0.0
        if not per_minute:
            return
        options: dict[str, Any] = {**(storage_options or {}), "wrap_exceptions": True}
        namespace = key_prefix
        redis_schemes = (
            RedisStorage.STORAGE_SCHEME
            + RedisClusterStorage.STORAGE_SCHEME
            + RedisSentinelStorage.STORAGE_SCHEME
        )
        if urlsplit(storage_uri).scheme in redis_schemes:
            # Redis keys become "kongressval:mail:rate/10/1/second", apart from Flask-Limiter's.
            options["key_prefix"], namespace = key_prefix, "rate"
        # Why the second first: a hit that a later window refuses has already used the earlier
        # window's entry; a wasted one-second entry is back a second later.
        self.items.append(RateLimitItemPerSecond(self.burst, namespace=namespace))
        if per_minute % 60:
            self.items.append(RateLimitItemPerMinute(per_minute, namespace=namespace))
        storage = storage_from_string(storage_uri, **options)
        if not isinstance(storage, Storage):
            raise ValueError("RATELIMIT_STORAGE_URI: the mail worker needs a synchronous storage")
        self._shared = _strategy(storage)
        errors = storage.base_exceptions
        self._errors: tuple[type[BaseException], ...] = (
            StorageError,
            OSError,
            *(errors if isinstance(errors, tuple) else (errors,)),
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, per_minute: int | None = None, **kwargs: Any
    ) -> RateLimiter:
        """The limiter for MAIL_RATE_PER_MINUTE (or ``per_minute``), in the web's storage."""
        if per_minute is None:
            per_minute = int(config.get("MAIL_RATE_PER_MINUTE", 600) or 0)
        kwargs.setdefault("storage_uri", config.get("RATELIMIT_STORAGE_URI") or "memory://")
        kwargs.setdefault("storage_options", config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        kwargs.setdefault("key_prefix", config.get("MAIL_RATE_KEY_PREFIX") or MAIL_RATE_KEY_PREFIX)
        return cls(per_minute, **kwargs)

    @property
    def shared(self) -> bool:
        """Whether the budget is shared with other processes (as far as is known now)."""
        return (
            bool(self.items)
            and self._fallback is None
            and not isinstance(self._shared.storage, MemoryStorage)
        )

    def _run(self, action: Callable[[limits.strategies.RateLimiter], float]) -> float:
        """``action`` on the shared storage, or on this process's memory while that is away."""
        if self._fallback is not None and self.clock() >= self._recheck_at:
            if self._shared.storage.check():
                log.info("mail rate limit: shared storage reachable again; the limit is global")
                self._fallback = None
            else:
                self._recheck_at = self.clock() + self.RECHECK
        if self._fallback is not None:
            return action(self._fallback)
        try:
            return action(self._shared)
        except self._errors as exc:
            # Only the exception's class: its text may hold the storage URI and its password.
            cause = getattr(exc, "storage_error", exc)
            log.warning(
                "mail rate limit: shared storage unreachable (%s); counting in this process "
                "only, so the limit is per worker until it answers again",
                cause.__class__.__name__,
            )
            self._fallback = _strategy(MemoryStorage())
            self._recheck_at = self.clock() + self.RECHECK
            return action(self._fallback)

    def _until_free(self, strategy: limits.strategies.RateLimiter, item: RateLimitItem) -> float:
        reset = strategy.get_window_stats(item).reset_time
        # Bounded by the window: a clock jump must not make the worker sleep for hours.
        return min(float(item.get_expiry()), max(0.0, reset - self.clock())) + self.MARGIN

    def _try_hit(self, strategy: limits.strategies.RateLimiter) -> float:
        """Take one send if every window has room (0.0), else how long until one may have."""
        for item in self.items:
            if not strategy.hit(item):
                return self._until_free(strategy, item)
        return 0.0

    def _look(self, strategy: limits.strategies.RateLimiter) -> float:
        wait = 0.0
        for item in self.items:
            if strategy.get_window_stats(item).remaining < 1:
                wait = max(wait, self._until_free(strategy, item))
        return wait

    def wait_needed(self) -> float:
        """Seconds until the next send may go; 0 if it may go now (takes nothing)."""
        return self._run(self._look) if self.items else 0.0

    def acquire(self, before_wait: Callable[[], object] | None = None) -> bool:
        """Take one send, sleeping first as long as the rate needs.

        ``before_wait`` runs once, before the first sleep (the worker records its sends then).
        Returns False, having taken nothing, when ``sleep`` returns True, as a stop flag's
        ``wait`` does once the flag is set: the caller must then not send.
        """
        if not self.items:
            return True
        while (wait := self._run(self._try_hit)) > 0:
            if before_wait is not None:
                before_wait()
                before_wait = None
            if self.sleep(wait) is True:
                return False
        return True

    def close(self) -> None:
        """Let go of the shared storage's connections (Redis); the limiter is not used after."""
        if self.items and isinstance(self._shared.storage, RedisStorage):
            self._shared.storage.storage.close()

    def claim_size(self, default: int) -> int:
        """How many messages to claim at once: what the rate sends in about 15 s."""
        # Why: a claim's lease must outlast sending it at the paced rate, or another worker
        # would take the rest over and send it a second time. With a shared budget N workers
        # send their claims side by side, in up to N x 15 s: the 15-minute lease covers 60.
        if not self.items:
            return default
        return max(1, min(default, self.per_minute // 4))


def _strategy(storage: Storage) -> limits.strategies.RateLimiter:
    """The exact moving window where the storage has it (memory, Redis), else the nearest."""
    for strategy in (MovingWindowRateLimiter, SlidingWindowCounterRateLimiter):
        try:
            return strategy(storage)
        except NotImplementedError:
            continue
    return FixedWindowRateLimiter(storage)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 2^attempts minutes, at most 6 h."""
    if attempts >= 9:  # 2^9 min > 6 h; also keeps the power small
        return MAX_BACKOFF
    return min(timedelta(minutes=2**attempts), MAX_BACKOFF)


def sink_dir(
    config: Mapping[str, Any], instance_path: str | os.PathLike[str] | None = None
) -> Path:
    """Where the "sink" transport writes: MAIL_SINK_DIR, else ``<instance>/mail-sink``."""
    configured = config.get("MAIL_SINK_DIR")
    if configured:
        return Path(configured)
    if instance_path is None:
        from flask import current_app

        instance_path = current_app.instance_path
    return Path(instance_path) / "mail-sink"


# --- building the message ----------------------------------------------------------------


def _sender_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def build_message(
    config: Mapping[str, Any],
    to_addr: str,
    subject: str,
    body: str,
    now: datetime,
    message_id: int | None = None,
) -> EmailMessage:
    """The RFC 5322 message: From, To, Subject, Date, Message-ID, a UTF-8 text/plain body.

    With ``message_id`` (the outbox row's id) the Message-ID carries it, so that a receiver can
    tell a repeated delivery of the same outbox message from a new one.
    """
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to_addr
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    # Why the sender's domain: make_msgid() would otherwise do a (slow, leaky) FQDN lookup.
    idstring = None if message_id is None else f"outbox{message_id}"
    message["Message-ID"] = make_msgid(
        idstring=idstring, domain=_sender_domain(str(config["MAIL_FROM"]))
    )
    # Why quoted-printable: 8-bit bodies need the server's 8BITMIME, QP passes everywhere.
    message.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
    return message


@lru_cache(maxsize=256)
def _subject_line(subject: str) -> str:
    # Cached: a send-out of voting links has one subject for all of them.
    if subject.isascii():
        return f"Subject: {subject}"
    return "Subject: " + Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


def message_bytes(
    config: Mapping[str, Any],
    to_addr: str,
    subject: str,
    body: str,
    now: datetime,
    message_id: int | None = None,
) -> bytes | None:
    """``build_message``'s message as wire bytes, built without the email package's header
    objects (several times faster); None when an address is not plain ASCII, for the full path.
    """
    mail_from = str(config["MAIL_FROM"])
    fields = (mail_from, to_addr, subject)
    # Why refuse CR and LF: a header value must never start a new header (header injection).
    if any("\r" in f or "\n" in f for f in fields) or not (
        mail_from.isascii() and to_addr.isascii()
    ):
        return None
    subject_line = _subject_line(subject)
    idstring = None if message_id is None else f"outbox{message_id}"
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    head = "\r\n".join(
        [
            f"From: {mail_from}",
            f"To: {to_addr}",
            subject_line,
            f"Date: {format_datetime(now)}",
            f"Message-ID: {make_msgid(idstring=idstring, domain=_sender_domain(mail_from))}",
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
        ]
    )
    return head.encode("ascii") + b"\r\n\r\n" + encoded.replace(b"\n", b"\r\n")


def _redact(text: str, to_addr: str) -> str:
    """An SMTP reply for ``last_error``, with the recipient's address cut out of it."""
    # Why: servers often echo the address ("550 <anna@...>: no such user"); the error column is
    # shown to operators and must not copy personal data beyond what the row already holds.
    text = re.sub(re.escape(to_addr), "<recipient>", text, flags=re.IGNORECASE)
    return " ".join(text.split())[:500]


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}"


# --- transports ----------------------------------------------------------------------------


class SmtpTransport:
    """One SMTP connection per batch, opened on the first message and reused."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.conn: smtplib.SMTP | None = None
        self.connect_error: TemporaryFailure | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        try:
            conn = smtplib.SMTP(
                cfg["SMTP_HOST"], int(cfg["SMTP_PORT"]), timeout=float(cfg.get("SMTP_TIMEOUT", 10))
            )
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"connect: {exc.__class__.__name__}: {exc}") from exc
        try:
            if cfg.get("SMTP_STARTTLS"):
                conn.starttls(context=ssl.create_default_context())
            if cfg.get("SMTP_USERNAME"):
                conn.login(cfg["SMTP_USERNAME"], cfg.get("SMTP_PASSWORD") or "")
        except (OSError, smtplib.SMTPException) as exc:
            conn.close()
            # Why no detail for login: some servers echo the user name in the reply.
            detail = "login refused" if isinstance(exc, smtplib.SMTPAuthenticationError) else exc
            raise TemporaryFailure(f"setup: {exc.__class__.__name__}: {detail}") from exc
        return conn

    def send(self, message: EmailMessage | bytes, to_addr: str) -> None:
        """Send one message (or its wire bytes); raise TemporaryFailure or PermanentFailure."""
        if self.connect_error is not None:
            # The server could not be reached for this batch: do not wait out the timeout for
            # every remaining message; they all retry later.
            raise self.connect_error
        if self.conn is None:
            try:
                self.conn = self._connect()
            except TemporaryFailure as exc:
                self.connect_error = exc
                raise
        try:
            if isinstance(message, bytes):
                sender = parseaddr(str(self.config["MAIL_FROM"]))[1]
                self.conn.sendmail(sender, [to_addr], message)
            else:
                self.conn.send_message(message, to_addrs=[to_addr])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            text = _redact(_reply(code, reply), to_addr)
            if 500 <= code < 600:
                raise RecipientRejected(f"{REJECTED_PREFIX}{text}") from exc
            raise TemporaryFailure(f"recipient deferred: {text}") from exc
        except smtplib.SMTPDataError as exc:
            text = _redact(_reply(exc.smtp_code, exc.smtp_error), to_addr)
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"{REJECTED_PREFIX}{text}") from exc
            raise TemporaryFailure(f"data deferred: {text}") from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, or the server is unhappy: a setup matter, not the recipient's.
            self.close()
            text = _redact(_reply(exc.smtp_code, exc.smtp_error), to_addr)
            raise TemporaryFailure(f"{exc.__class__.__name__}: {text}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()  # the connection is unusable; the next message opens a new one
            raise TemporaryFailure(f"{exc.__class__.__name__}: {exc}") from exc

    def close(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()


class SinkTransport:
    """Writes each message as an .eml file, for the local demo's /dev/mail."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self.clock = clock

    def send(self, message: EmailMessage, to_addr: str, message_id: int) -> Path:
        name = f"{self.clock():%Y%m%dT%H%M%S%f}Z-{message_id:06d}.eml"
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        # Why 0600: the body holds one-time link tokens.
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(message.as_bytes())
            tmp.replace(path)
        except OSError as exc:
            raise TemporaryFailure(f"sink: {exc.__class__.__name__}: {exc.strerror}") from exc
        return path

    def close(self) -> None:
        pass


# --- the batch -----------------------------------------------------------------------------


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


def _transport(config: Mapping[str, Any], clock: Clock) -> SmtpTransport | SinkTransport:
    kind = config.get("MAIL_TRANSPORT", "smtp")
    if kind == "smtp":
        return SmtpTransport(config)
    if kind == "sink":
        return SinkTransport(sink_dir(config), clock)
    raise DeliveryError(f"MAIL_TRANSPORT: unknown transport {kind!r} (use 'smtp' or 'sink')")


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
    transport = _transport(config, clock)
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
    transport: SmtpTransport | SinkTransport,
    config: Mapping[str, Any],
    item: _Claimed,
    now: datetime,
    max_attempts: int,
    report: DeliveryReport,
) -> _Outcome:
    attempts = item.attempts + 1
    try:
        args = (config, item.to_addr, item.subject, item.body, now)
        try:
            payload: EmailMessage | bytes
            if isinstance(transport, SinkTransport):
                payload = build_message(*args, message_id=item.id)
            else:
                # The fast path for plain-ASCII addresses; the email package for the rest.
                payload = message_bytes(*args, message_id=item.id) or build_message(
                    *args, message_id=item.id
                )
        except (ValueError, TypeError, UnicodeError, email.errors.MessageError) as exc:
            # A message that cannot be built now never will be: no point retrying it.
            raise PermanentFailure(f"bad message: {exc.__class__.__name__}") from exc
        if isinstance(transport, SinkTransport) and isinstance(payload, EmailMessage):
            transport.send(payload, item.to_addr, item.id)
        elif isinstance(transport, SmtpTransport):
            transport.send(payload, item.to_addr)
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
