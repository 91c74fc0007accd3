"""Staff accounts: argon2id password hash, encrypted TOTP secret, session epoch, login count;
and the Swedish eID that may sign in to one (a keyed hash of the personnummer, never the number).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from voting.auth import Role
from voting.db import Base, IntPK, UTCTime


class User(Base):
    __tablename__ = "staff_user"
    __table_args__ = (
        sa.CheckConstraint(
            "role IN (" + ", ".join(repr(r.value) for r in Role) + ")", name="role_known"
        ),
    )

    id: Mapped[IntPK]
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    totp_secret_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # The last TOTP time step accepted, so that one code cannot be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[UTCTime]
    last_login_at: Mapped[UTCTime | None]
    # Moved on by logout, a password or TOTP reset and disabling; a session cookie carries the
    # value of its login, and one that carries another is over (voting/admin/services.py).
    session_epoch: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    disabled_at: Mapped[UTCTime | None]
    # Failed logins in a row, and until when the next attempt must wait (LoginBackoff).
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    login_delay_until: Mapped[UTCTime | None]


class StaffEid(Base):
    """The eID that may sign in to one staff account (optional; password and TOTP stay)."""

    __tablename__ = "staff_eid"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), primary_key=True)
    # HMAC of the canonical personnummer under its own purpose ("staff-eid"), so that it matches
    # neither the member register's look-up hash nor anything in the log.
    pnr_lookup: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[UTCTime]
