"""Deliver the outbox: claim due messages, send them over SMTP (or into the local sink), record.

A batch runs in three kinds of short transactions, never one long one:

1. *claim*: select up to ``CLAIM_CHUNK`` due rows (on PostgreSQL ``FOR UPDATE SKIP LOCKED``,
   so that several workers share the queue without waiting on each other) and push their
   ``next_attempt_at`` a lease ahead, so that no other worker picks them up meanwhile;
2. *send* each message, outside any transaction (a slow SMTP server must not hold the SQLite
   write lock that every web request needs);
3. *record* each message's outcome at once in its own commit, right after its send, so that a
   crash mid-batch re-sends at most the one message that was on the wire.

A crash between send and record leaves the row queued with its lease; it is retried when the
lease runs out. That is at-least-once delivery, the best SMTP allows.
"""

from __future__ import annotations

import email.errors
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from voting.crypto import decrypt
from voting.mail.models import MailStatus, OutboxMessage
from voting.mail.services import BODY_KEY

log = logging.getLogger(__name__)

CLAIM_CHUNK = 50
# Long enough for a chunk at SMTP_TIMEOUT per message; a crashed worker's claim expires after it.
LEASE = timedelta(minutes=15)
MAX_BACKOFF = timedelta(hours=6)
SINK_NAME_RE = re.compile(r"^\d{8}T\d{6}\d{6}Z-\d{6,}\.eml$")


class DeliveryError(Exception):
    """Base of the outbox's delivery errors."""


class TemporaryFailure(DeliveryError):
    """Try again later: connection trouble or a 4xx reply."""


class PermanentFailure(DeliveryError):
    """The server refused the message for good (5xx for the recipient or the data)."""


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
    config: Mapping[str, Any], to_addr: str, subject: str, body: str, now: datetime
) -> EmailMessage:
    """The RFC 5322 message: From, To, Subject, Date, Message-ID, a UTF-8 text/plain body."""
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to_addr
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    # Why the sender's domain: make_msgid() would otherwise do a (slow, leaky) FQDN lookup.
    message["Message-ID"] = make_msgid(domain=_sender_domain(str(config["MAIL_FROM"])))
    # Why quoted-printable: 8-bit bodies need the server's 8BITMIME, QP passes everywhere.
    message.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
    return message


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

    def send(self, message: EmailMessage, to_addr: str) -> None:
        """Send one message; raise TemporaryFailure or PermanentFailure."""
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
            self.conn.send_message(message, to_addrs=[to_addr])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            text = _redact(_reply(code, reply), to_addr)
            if 500 <= code < 600:
                raise PermanentFailure(f"rejected: {text}") from exc
            raise TemporaryFailure(f"recipient deferred: {text}") from exc
        except smtplib.SMTPDataError as exc:
            text = _redact(_reply(exc.smtp_code, exc.smtp_error), to_addr)
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"rejected: {text}") from exc
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

    def __init__(self, directory: Path, now: datetime) -> None:
        self.directory = directory
        self.now = now

    def send(self, message: EmailMessage, to_addr: str, message_id: int) -> Path:
        name = f"{self.now:%Y%m%dT%H%M%S%f}Z-{message_id:06d}.eml"
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
        select(OutboxMessage)
        .where(OutboxMessage.status == MailStatus.QUEUED, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Why SKIP LOCKED: a second worker takes the next rows instead of queueing behind us.
        query = query.with_for_update(skip_locked=True)
    try:
        rows = list(session.scalars(query))
        claimed = []
        for row in rows:
            try:
                if row.body_enc is None:
                    raise ValueError("no body")
                body = decrypt(row.body_enc, BODY_KEY, data_key=config["DATA_KEY"]).decode()
            except (InvalidTag, ValueError) as exc:
                # Unreadable (DATA_KEY changed?): it never will be sendable; the ciphertext
                # stays, so that restoring the old key can still recover it.
                row.status = MailStatus.FAILED
                row.last_error = f"unreadable body: {exc.__class__.__name__}; check DATA_KEY"
                report.failed += 1
                report.ids["failed"].append(row.id)
                continue
            claimed.append(_Claimed(row.id, row.to_addr, row.subject, body, row.attempts))
            row.next_attempt_at = now + LEASE
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(rows), claimed


def _record(session: Session, message_id: int, values: dict[str, Any]) -> None:
    """Write one message's outcome in its own transaction."""
    try:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == MailStatus.QUEUED)
            .values(**values)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _transport(config: Mapping[str, Any], now: datetime) -> SmtpTransport | SinkTransport:
    kind = config.get("MAIL_TRANSPORT", "smtp")
    if kind == "smtp":
        return SmtpTransport(config)
    if kind == "sink":
        return SinkTransport(sink_dir(config), now)
    raise DeliveryError(f"MAIL_TRANSPORT: unknown transport {kind!r} (use 'smtp' or 'sink')")


def deliver_due(
    session_or_factory: Session | Callable[[], Session],
    config: Mapping[str, Any],
    now: datetime,
    limit: int | None = None,
) -> DeliveryReport:
    """Send queued messages due at ``now`` (at most ``limit``); each outcome committed alone.

    Give a session with no work pending, or a sessionmaker: this function commits.
    """
    report = DeliveryReport()
    transport = _transport(config, now)
    max_attempts = int(config.get("MAIL_MAX_ATTEMPTS", 6))
    remaining = limit
    try:
        with _session_scope(session_or_factory) as session:
            while remaining is None or remaining > 0:
                chunk = CLAIM_CHUNK if remaining is None else min(CLAIM_CHUNK, remaining)
                taken, claimed = _claim(session, config, now, chunk, report)
                if not taken:
                    break
                if remaining is not None:
                    remaining -= taken
                for item in claimed:
                    _deliver_one(session, transport, config, item, now, max_attempts, report)
    finally:
        transport.close()
    if report.total:
        log.info("outbox: %s", report)  # counts only: no addresses or bodies in the logs
    return report


def _deliver_one(
    session: Session,
    transport: SmtpTransport | SinkTransport,
    config: Mapping[str, Any],
    item: _Claimed,
    now: datetime,
    max_attempts: int,
    report: DeliveryReport,
) -> None:
    attempts = item.attempts + 1
    try:
        try:
            message = build_message(config, item.to_addr, item.subject, item.body, now)
        except (ValueError, TypeError, email.errors.MessageError) as exc:
            # A message that cannot be built now never will be: no point retrying it.
            raise PermanentFailure(f"bad message: {exc.__class__.__name__}") from exc
        if isinstance(transport, SinkTransport):
            transport.send(message, item.to_addr, item.id)
        else:
            transport.send(message, item.to_addr)
    except PermanentFailure as exc:
        # Why wipe on failure too: the link token in the body was never delivered and is
        # no use to anyone but an intruder; the row keeps the error for the operator.
        _record(
            session,
            item.id,
            {
                "status": MailStatus.FAILED,
                "attempts": attempts,
                "last_error": str(exc),
                "body_enc": None,
            },
        )
        report.failed += 1
        report.ids["failed"].append(item.id)
        log.warning("outbox message %s rejected permanently", item.id)
        return
    except TemporaryFailure as exc:
        error = str(exc)
        if attempts >= max_attempts:
            _record(
                session,
                item.id,
                {
                    "status": MailStatus.FAILED,
                    "attempts": attempts,
                    "last_error": f"gave up after {attempts} attempts: {error}",
                    "body_enc": None,
                },
            )
            report.failed += 1
            report.ids["failed"].append(item.id)
            log.warning("outbox message %s failed after %s attempts", item.id, attempts)
        else:
            _record(
                session,
                item.id,
                {
                    "attempts": attempts,
                    "last_error": error,
                    "next_attempt_at": now + backoff(attempts),
                },
            )
            report.retry += 1
            report.ids["retry"].append(item.id)
        return
    # Why wipe the body: it holds a link token, which must not stay at rest once delivered.
    _record(
        session,
        item.id,
        {
            "status": MailStatus.SENT,
            "sent_at": now,
            "attempts": attempts,
            "body_enc": None,
            "last_error": None,
        },
    )
    report.sent += 1
    report.ids["sent"].append(item.id)


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
