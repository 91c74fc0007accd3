"""Staff accounts and login: argon2id passwords, a TOTP second factor, sessions that end."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
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

from voting.admin.errors import AccountError, AccountNotFound, LoginError
from voting.admin.passwords import MAX_PASSWORD_LENGTH as MAX_PASSWORD_LENGTH
from voting.admin.passwords import MIN_PASSWORD_LENGTH as MIN_PASSWORD_LENGTH
from voting.admin.passwords import check_password_policy
from voting.auth import Role
from voting.crypto import decrypt, encrypt
from voting.log.services import REGISTER_LOG, append
from voting.staff.models import User

# argon2id with the RFC 9106 "second recommended option" (argon2-cffi's defaults, spelled out so
# that a library upgrade cannot silently lower them): 3 passes over 64 MiB, 4 lanes, 16-byte
# salt, 32-byte tag. A hash made with other parameters stays until ``reset_password``.
PASSWORD_HASHER = PasswordHasher(
    time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16
)
TOTP_PURPOSE = "totp"
TOTP_ISSUER = "Kongressval"
SESSION_UID = "staff_uid"
SESSION_AUTH_AT = "staff_auth_at"
SESSION_EPOCH = "staff_epoch"
CLI = "cli"  # the actor of the command line in the audit log

log = logging.getLogger(__name__)

LOGIN_FAILED = "Fel e-postadress, lösenord eller kod."  # the view shows it translated


def normalize_email(email: str) -> str:
    """The address as stored: syntax-checked and lower-case; AccountError naming ``email``."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"email: {exc}", field="email") from exc


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
    check_password_policy(password, address)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise AccountError(f"email: an account for {address} already exists", field="email")
    secret = pyotp.random_base32()  # 160 bits, the RFC 4226 recommendation
    user = User(
        email=address,
        role=role_value.value,
        password_hash=PASSWORD_HASHER.hash(password),
        # Why encrypted, bound to the email: a database dump alone must not yield working
        # second factors, and a secret copied onto another account's row does not decrypt.
        totp_secret_enc=_encrypt_totp(secret, address),
        created_at=now,
    )
    session.add(user)
    session.flush()
    # No email in the log: staff are people too; the row id is enough to follow them.
    append(
        session, REGISTER_LOG, "staff.created", {"user": user.id, "role": user.role, "by": CLI}, now
    )
    return user, secret


def _encrypt_totp(secret: str, address: str) -> bytes:
    return encrypt(secret.encode(), TOTP_PURPOSE, aad=address.encode())


def totp_secret(user: User) -> str:
    """The clear TOTP secret of ``user``."""
    return decrypt(user.totp_secret_enc, TOTP_PURPOSE, aad=user.email.encode()).decode()


def provisioning_uri(email: str, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads (as text or QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return PASSWORD_HASHER.hash("no such user, but hash anyway")


def _hash_anyway(password: str) -> None:
    # Why: answering faster for unknown addresses, or for an account in its login delay, would
    # tell which addresses have accounts.
    with contextlib.suppress(VerificationError):
        PASSWORD_HASHER.verify(_dummy_hash(), password)


def _address_or_none(email: str) -> str | None:
    try:
        return normalize_email(email)
    except AccountError:
        return None


def _matching_step(totp: pyotp.TOTP, code: str, now: datetime) -> int | None:
    """The time step whose code is ``code``, within one step either side of ``now``."""
    if not totp.verify(code, for_time=now, valid_window=1):
        return None
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if pyotp.utils.strings_equal(code, totp.generate_otp(step)):
            return step
    return None  # pragma: no cover - verify() said one of them matched


@dataclass(frozen=True)
class LoginBackoff:
    """How long an account's logins wait after repeated failures.

    After ``free_failures`` failures in a row, each further attempt must wait ``base`` seconds,
    doubling with every failure up to ``cap``; a login that succeeds starts the count afresh.
    """

    free_failures: int = 5
    base_seconds: float = 2
    max_seconds: float = 900

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoginBackoff:
        return cls(
            free_failures=int(config["LOGIN_BACKOFF_FREE_FAILURES"]),
            base_seconds=float(config["LOGIN_BACKOFF_BASE_SECONDS"]),
            max_seconds=float(config["LOGIN_BACKOFF_MAX_SECONDS"]),
        )

    def delay(self, failures: int) -> timedelta | None:
        """The wait after ``failures`` failures in a row; None while they are free."""
        if failures < self.free_failures:
            return None
        doublings = min(failures - self.free_failures, 40)
        return timedelta(seconds=min(self.base_seconds * 2**doublings, self.max_seconds))


def claim_login_attempt(
    session: Session, email: str, password: str, now: datetime, backoff: LoginBackoff
) -> None:
    """Count a login attempt against its account before anything is checked.

    Raises LoginError (the one message) while the account is in its login delay, whatever the
    password. Otherwise the attempt is counted as a failure now, in its own transaction, and
    ``authenticate`` clears the count if it succeeds. Why count first: a failure counted only
    after the password check could be outrun by many attempts sent at once (from many
    addresses), each checked before any other was counted.
    """
    address = _address_or_none(email)
    if address is None:
        return
    # FOR UPDATE on PostgreSQL (SQLite's write lock serializes anyway): concurrent attempts on
    # one account are counted one after the other, so only one gets past an expiring delay.
    user = session.scalar(select(User).where(User.email == address).with_for_update())
    if user is None:
        return
    if user.login_delay_until is not None and now < user.login_delay_until:
        _hash_anyway(password)
        # Why not counted: otherwise a stranger who keeps trying would keep the account's
        # owner out for good; this way the delay never grows while it is running.
        raise LoginError(LOGIN_FAILED, code="throttled")
    failures = user.failed_logins + 1
    delay = backoff.delay(failures)
    user.failed_logins = failures
    user.login_delay_until = now + delay if delay is not None else None
    if failures == backoff.free_failures:
        log.warning(
            "staff account %d: %d failed logins in a row, logins now wait", user.id, failures
        )


def authenticate(session: Session, email: str, password: str, code: str, now: datetime) -> User:
    """Check password and TOTP code; return the user, or raise LoginError (one message for all).

    The web login claims the attempt first (``claim_login_attempt``), in a transaction of its own.
    """
    address = _address_or_none(email)
    user = (
        session.scalar(select(User).where(User.email == address)) if address is not None else None
    )
    if user is None:
        _hash_anyway(password)
        raise LoginError(LOGIN_FAILED)
    try:
        PASSWORD_HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError) as exc:
        raise LoginError(LOGIN_FAILED) from exc
    if user.disabled_at is not None:
        raise LoginError(LOGIN_FAILED, code="disabled")
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
            User.disabled_at.is_(None),
            sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step, last_login_at=now, failed_logins=0, login_delay_until=None)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise LoginError(LOGIN_FAILED)
    session.refresh(user)
    # No rehash of an outdated password hash here: the app's database role may not write
    # password hashes (deploy/postgresql/grants.sql); `voting admin reset-password` makes a
    # fresh one with the current parameters.
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
    cookie[SESSION_EPOCH] = user.session_epoch


def end_session(cookie: MutableMapping[str, Any]) -> None:
    """Forget the login in this browser: everything but the language."""
    lang = cookie.get("lang")
    cookie.clear()
    if lang is not None:
        cookie["lang"] = lang


def end_account_sessions(session: Session, user_id: int) -> None:
    """End every session of the account, in every browser, from the next request on."""
    # Why a counter in the database: the session is a signed cookie, which the server cannot
    # take back; a copy of it (a stolen or replayed cookie) stays valid until the account's
    # epoch moves past the one it carries.
    session.execute(
        sa.update(User)
        .where(User.id == user_id)
        .values(session_epoch=User.session_epoch + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def logout_everywhere(session: Session, user: User, now: datetime) -> None:
    """Log ``user`` out everywhere: a copy of any of their session cookies is worthless now."""
    end_account_sessions(session, user.id)
    append(session, REGISTER_LOG, "staff.logout", {"user": user.id}, now)


def load_user(session: Session, cookie: Mapping[str, Any], now: datetime) -> User | None:
    """The staff user of this browser session, if logged in, not expired and not ended."""
    uid = cookie.get(SESSION_UID)
    auth_at = cookie.get(SESSION_AUTH_AT)
    epoch = cookie.get(SESSION_EPOCH)
    if not isinstance(uid, int) or not isinstance(auth_at, str) or not isinstance(epoch, int):
        _forget(cookie)
        return None
    try:
        logged_in = datetime.fromisoformat(auth_at)
    except ValueError:
        _forget(cookie)
        return None
    minutes = current_app.config["ADMIN_SESSION_MINUTES"]
    # Why an absolute limit from login time: a stolen or forgotten session dies on its own,
    # however busy it is kept. A login time in the future is as suspect as an old one.
    if logged_in.tzinfo is None or not (
        now - timedelta(minutes=minutes) < logged_in <= now + timedelta(minutes=1)
    ):
        _forget(cookie)
        return None
    user = session.get(User, uid)
    # Why compared on every request: logout, a password or TOTP reset and disabling the account
    # each move the epoch, and must end its sessions at once, not when they expire.
    if user is None or user.disabled_at is not None or user.session_epoch != epoch:
        _forget(cookie)
        return None
    return user


def _forget(cookie: Mapping[str, Any]) -> None:
    """Drop a login that no longer holds from the browser session (if it had one)."""
    if SESSION_UID in cookie and isinstance(cookie, MutableMapping):
        end_session(cookie)


# --- Account management (``voting admin ...``) ------------------------------------------------


def get_user(session: Session, email: str) -> User:
    """The staff account with address ``email``; AccountNotFound if there is none."""
    address = normalize_email(email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        raise AccountNotFound(
            f"email: no staff account for {address}", field="email", code="not_found"
        )
    return user


def list_users(session: Session) -> list[tuple[User, bool]]:
    """Every staff account, by address, and whether an eID may sign in to it."""
    from voting.staff.models import StaffEid

    rows = session.execute(
        select(User, StaffEid.user_id)
        .outerjoin(StaffEid, StaffEid.user_id == User.id)
        .order_by(User.email)
    )
    return [(user, eid is not None) for user, eid in rows]


def _event(session: Session, name: str, user: User, now: datetime) -> None:
    # The account's row id only, as staff.created and staff.login: no email in the log.
    append(session, REGISTER_LOG, name, {"user": user.id, "by": CLI}, now)


def disable_user(session: Session, email: str, now: datetime) -> tuple[User, bool]:
    """Disable an account and end its sessions; returns it and whether anything changed."""
    user = get_user(session, email)
    if user.disabled_at is not None:
        return user, False
    user.disabled_at = now
    session.flush()
    end_account_sessions(session, user.id)
    _event(session, "staff.disabled", user, now)
    return user, True


def enable_user(session: Session, email: str, now: datetime) -> tuple[User, bool]:
    """Enable a disabled account (with a fresh login count); returns it and whether it changed."""
    user = get_user(session, email)
    if user.disabled_at is None:
        return user, False
    user.disabled_at = None
    user.failed_logins = 0
    user.login_delay_until = None
    session.flush()
    _event(session, "staff.enabled", user, now)
    return user, True


def reset_password(session: Session, email: str, password: str, now: datetime) -> User:
    """Give an account a new password (under the policy) and end its sessions."""
    user = get_user(session, email)
    check_password_policy(password, user.email)
    user.password_hash = PASSWORD_HASHER.hash(password)
    # The person who asked for the reset must not find the account waiting out a stranger's
    # failed attempts.
    user.failed_logins = 0
    user.login_delay_until = None
    session.flush()
    end_account_sessions(session, user.id)
    _event(session, "staff.password_reset", user, now)
    return user


def reset_totp(session: Session, email: str, now: datetime) -> tuple[User, str]:
    """Give an account a new TOTP secret and end its sessions; returns it and the secret."""
    user = get_user(session, email)
    secret = pyotp.random_base32()
    user.totp_secret_enc = _encrypt_totp(secret, user.email)
    session.flush()
    end_account_sessions(session, user.id)
    _event(session, "staff.totp_reset", user, now)
    return user, secret
