"""Where a built message goes: an SMTP server, or .eml files in a local sink (the demo)."""

from __future__ import annotations

import email.errors
import os
import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

from voting.mail.errors import DeliveryError, PermanentFailure, RecipientRejected, TemporaryFailure
from voting.mail.message import build_message, message_bytes
from voting.mail.models import REJECTED_PREFIX

SINK_NAME_RE = re.compile(r"^\d{8}T\d{6}\d{6}Z-\d{6,}\.eml$")

# The current time as an aware UTC datetime: the app's CLOCK, or a test's settable clock.
Clock = Callable[[], datetime]


class Transport(Protocol):
    """Builds each message in the form it sends, sends it, and lets go of its connection."""

    def build(
        self,
        config: Mapping[str, Any],
        to_addr: str,
        subject: str,
        body: str,
        now: datetime,
        message_id: int,
    ) -> EmailMessage | bytes:
        """The message to send; raises PermanentFailure when it cannot be built."""
        ...

    def deliver(self, message: EmailMessage | bytes, to_addr: str, message_id: int) -> None:
        """Send one built message; raise TemporaryFailure or PermanentFailure."""
        ...

    def close(self) -> None:
        """Let go of any connection."""
        ...


def make_transport(config: Mapping[str, Any], clock: Clock) -> Transport:
    """The transport MAIL_TRANSPORT names: "smtp" (the default) or "sink"."""
    kind = config.get("MAIL_TRANSPORT", "smtp")
    if kind == "smtp":
        return SmtpTransport(config)
    if kind == "sink":
        return SinkTransport(sink_dir(config), clock)
    raise DeliveryError(f"MAIL_TRANSPORT: unknown transport {kind!r} (use 'smtp' or 'sink')")


def _bad_message(exc: Exception) -> PermanentFailure:
    # A message that cannot be built now never will be: no point retrying it.
    return PermanentFailure(f"bad message: {exc.__class__.__name__}")


_BUILD_ERRORS = (ValueError, TypeError, UnicodeError, email.errors.MessageError)


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

    def build(
        self,
        config: Mapping[str, Any],
        to_addr: str,
        subject: str,
        body: str,
        now: datetime,
        message_id: int,
    ) -> EmailMessage | bytes:
        """The wire bytes for plain-ASCII addresses (fast); the email package for the rest."""
        args = (config, to_addr, subject, body, now)
        try:
            return message_bytes(*args, message_id=message_id) or build_message(
                *args, message_id=message_id
            )
        except _BUILD_ERRORS as exc:
            raise _bad_message(exc) from exc

    def deliver(self, message: EmailMessage | bytes, to_addr: str, message_id: int) -> None:
        """Send over this batch's SMTP connection."""
        self.send(message, to_addr)

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

    def build(
        self,
        config: Mapping[str, Any],
        to_addr: str,
        subject: str,
        body: str,
        now: datetime,
        message_id: int,
    ) -> EmailMessage:
        """The email package's message, whose bytes the .eml file holds."""
        try:
            return build_message(config, to_addr, subject, body, now, message_id=message_id)
        except _BUILD_ERRORS as exc:
            raise _bad_message(exc) from exc

    def deliver(self, message: EmailMessage | bytes, to_addr: str, message_id: int) -> None:
        """Write the message into the sink."""
        if isinstance(message, bytes):
            raise TypeError("the sink writes messages built by its own build()")
        self.send(message, to_addr, message_id)

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
