"""Demo-only pages for the local demo: the mail sink and the demo staff's TOTP codes.

``create_app`` registers this blueprint only when the DEMO setting is on (never for debug mode
alone), and refuses DEMO with PostgreSQL or SMTP mail; it must never be reachable in
production, since it shows one-time links and second factors.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pyotp
from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import select

from voting import clock
from voting.admin.services import totp_secret
from voting.db import db
from voting.dev.demo import STAFF_EMAILS
from voting.mail.transports import SINK_NAME_RE, sink_dir
from voting.staff.models import User

bp = Blueprint("dev", __name__, url_prefix="/dev")

# Only http(s) becomes a link: a "javascript:" text in a mail body stays text.
URL_RE = re.compile(r"(https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])")
MAX_LISTED = 200


@bp.before_request
def _demo_only() -> None:
    # Why twice: registration is the real guard; this stops a blueprint that was
    # registered by mistake from showing secrets outside the demo.
    if not current_app.config.get("DEMO"):
        abort(404)


@dataclass(frozen=True)
class SinkMail:
    name: str
    to: str
    subject: str
    date: datetime | None

    @property
    def local_time(self) -> str:
        """The Date header in the app's default zone (Stockholm), for display."""
        if self.date is None:
            return ""
        zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Europe/Stockholm"))
        return self.date.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return message


def _summary(path: Path) -> SinkMail:
    message = _read(path)
    date_header = message["Date"]
    return SinkMail(
        name=path.name,
        to=str(message["To"] or ""),
        subject=str(message["Subject"] or ""),
        date=getattr(date_header, "datetime", None),
    )


def body_parts(text: str) -> list[tuple[str, bool]]:
    """Split ``text`` into (piece, is_url) so the template can link URLs without ``|safe``."""
    parts: list[tuple[str, bool]] = []
    for index, piece in enumerate(URL_RE.split(text)):
        if piece:
            parts.append((piece, index % 2 == 1))
    return parts


@bp.route("/", methods=["GET"])
def index() -> str:
    return render_template("dev/index.html")


@bp.route("/mail", methods=["GET"])
def mail() -> str:
    directory = sink_dir(current_app.config)
    names = sorted(
        (p.name for p in directory.glob("*.eml") if SINK_NAME_RE.match(p.name)), reverse=True
    )
    mails = [_summary(directory / name) for name in names[:MAX_LISTED]]
    return render_template("dev/mail_list.html", mails=mails, total=len(names), directory=directory)


@bp.route("/mail/<name>", methods=["GET"])
def mail_show(name: str) -> str:
    # Why the pattern: the name comes from the URL and must not walk out of the sink folder.
    if not SINK_NAME_RE.match(name):
        abort(404)
    path = sink_dir(current_app.config) / name
    if not path.is_file():
        abort(404)
    message = _read(path)
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return render_template(
        "dev/mail_show.html",
        mail=_summary(path),
        sender=str(message["From"] or ""),
        parts=body_parts(text.replace("\r\n", "\n")),
    )


@bp.route("/totp", methods=["GET"])
def totp() -> str:
    now = clock.now()
    users = db.session.scalars(
        select(User).where(User.email.in_(STAFF_EMAILS)).order_by(User.email)
    ).all()
    step = 30
    remaining = step - int(now.timestamp()) % step
    codes = [
        {"email": u.email, "role": u.role, "code": pyotp.TOTP(totp_secret(u)).at(now)}
        for u in users
    ]
    db.session.rollback()
    return render_template("dev/totp.html", codes=codes, remaining=remaining)
