"""Building an outbox message: the email package's message, or its wire bytes directly."""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from typing import Any


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
