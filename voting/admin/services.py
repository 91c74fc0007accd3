"""Staff accounts and login: argon2id passwords and a TOTP second factor."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, MutableMapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from voting.admin.errors import AccountError, LoginError
from voting.admin.models import User
from voting.audit.services import REGISTER_LOG, append
from voting.auth import Role
from voting.crypto import decrypt, encrypt

# argon2id with the RFC 9106 "second recommended option" (argon2-cffi's defaults, spelled out so
# that a library upgrade cannot silently lower them): 3 passes over 64 MiB, 4 lanes, 16-byte
# salt, 32-byte tag. ``authenticate`` rehashes a stored hash whose parameters differ.
PASSWORD_HASHER = PasswordHasher(
    time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16
)
MIN_PASSWORD_LENGTH = 12
# Why a maximum: hashing is deliberately slow; a megabyte "password" must not cost more.
MAX_PASSWORD_LENGTH = 1024
TOTP_PURPOSE = "totp"
TOTP_ISSUER = "Kongressval"
SESSION_UID = "staff_uid"
SESSION_AUTH_AT = "staff_auth_at"

LOGIN_FAILED = "Fel e-postadress, lösenord eller kod."  # the view shows it translated


def normalize_email(email: str) -> str:
    """The address as stored: syntax-checked and lower-case; AccountError naming ``email``."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"email: {exc}", field="email") from exc


def check_password_policy(password: str) -> None:
    """At least 12 characters (length beats composition rules), at most 1024."""
    if len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        raise AccountError(
            f"password: must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"password: must be at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )


def create_user(
    session: Session, email: str, role: str, password: str, now: datetime
) -> tuple[User, str]:
    """Create a staff account; returns it and its TOTP secret, to be shown to the user once."""
    address = normalize_email(email)
    try:
        role_value = Role(role)
    except ValueError as exc:
        known = ", ".join(r.value for r in Role)
        raise AccountError(f"role: must be one of {known}", field="role") from exc
    check_password_policy(password)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise AccountError(f"email: an account for {address} already exists", field="email")
    secret = pyotp.random_base32()  # 160 bits, the RFC 4226 recommendation
    user = User(
        email=address,
        role=role_value.value,
        password_hash=PASSWORD_HASHER.hash(password),
        # Why encrypted, bound to the email: a database dump alone must not yield working
        # second factors, and a secret copied onto another account's row does not decrypt.
        totp_secret_enc=encrypt(secret.encode(), TOTP_PURPOSE, aad=address.encode()),
        created_at=now,
    )
    session.add(user)
    session.flush()
    # No email in the log: staff are people too; the row id is enough to follow them.
    append(session, REGISTER_LOG, "staff.created", {"user": user.id, "role": user.role}, now)
    return user, secret


def totp_secret(user: User) -> str:
    """The clear TOTP secret of ``user``."""
    return decrypt(user.totp_secret_enc, TOTP_PURPOSE, aad=user.email.encode()).decode()


def provisioning_uri(email: str, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (as text or QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return PASSWORD_HASHER.hash("no such user, but hash anyway")


def _matching_step(totp: pyotp.TOTP, code: str, now: datetime) -> int | None:
    """The time step whose code is ``code``, within one step either side of ``now``."""
    if not totp.verify(code, for_time=now, valid_window=1):
        return None
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)):
            return step
    return None  # pragma: no cover - verify() said one of them matched


def authenticate(session: Session, email: str, password: str, code: str, now: datetime) -> User:
    """Check password and TOTP code; return the user, or raise LoginError (one message for all)."""
    try:
        address = normalize_email(email)
    except AccountError:
        address = None
    user = (
        session.scalar(select(User).where(User.email == address)) if address is not None else None
    )
    if user is None:
        # Why hash anyway: answering faster for unknown addresses would reveal which exist.
        with contextlib.suppress(VerificationError):
            PASSWORD_HASHER.verify(_dummy_hash(), password)
        raise LoginError(LOGIN_FAILED)
    try:
        PASSWORD_HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError) as exc:
        raise LoginError(LOGIN_FAILED) from exc
    code = code.strip().replace(" ", "")
    step = _matching_step(pyotp.TOTP(totp_secret(user)), code, now) if code.isdigit() else None
    if step is None:
        raise LoginError(LOGIN_FAILED)
    # Why a conditional UPDATE: a code seen once (even by a shoulder-surfer or a proxy log) must
    # not log in again, and two concurrent logins with one code must not both succeed.
    used = session.execute(
        sa.update(User)
        .where(
            User.id == user.id,
            sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step, last_login_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise LoginError(LOGIN_FAILED)
    session.refresh(user)
    if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = PASSWORD_HASHER.hash(password)
    append(session, REGISTER_LOG, "staff.login", {"user": user.id}, now)
    return user


def start_session(cookie: MutableMapping[str, Any], user: User, now: datetime) -> None:
    """Put a fresh login into the browser session, dropping everything else but the language."""
    lang = cookie.get("lang")
    # Why clear: a session that existed before login (possibly planted) must not become
    # the logged-in one (session fixation).
    cookie.clear()
    if lang is not None:
        cookie["lang"] = lang
    cookie[SESSION_UID] = user.id
    cookie[SESSION_AUTH_AT] = now.isoformat()


def end_session(cookie: MutableMapping[str, Any]) -> None:
    """Log out: forget everything but the language."""
    lang = cookie.get("lang")
    cookie.clear()
    if lang is not None:
        cookie["lang"] = lang


def load_user(session: Session, cookie: Mapping[str, Any], now: datetime) -> User | None:
    """The staff user of this browser session, if logged in and not expired."""
    uid = cookie.get(SESSION_UID)
    auth_at = cookie.get(SESSION_AUTH_AT)
    if not isinstance(uid, int) or not isinstance(auth_at, str):
        return None
    try:
        logged_in = datetime.fromisoformat(auth_at)
    except ValueError:
        return None
    minutes = current_app.config["ADMIN_SESSION_MINUTES"]
    # Why an absolute limit from login time: a stolen or forgotten session dies on its own,
    # however busy it is kept. A login time in the future is as suspect as an old one.
    if logged_in.tzinfo is None or not (
        now - timedelta(minutes=minutes) < logged_in <= now + timedelta(minutes=1)
    ):
        if isinstance(cookie, MutableMapping):
            end_session(cookie)
        return None
    return session.get(User, uid)
