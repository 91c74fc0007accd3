"""Emailed link tokens: random, stored only as a hash, expiring, and used once."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Mapped, Session, mapped_column

from voting.crypto import new_token, token_hash
from voting.db import Base, IntPK, UTCTime
from voting.errors import ServiceError


class Purpose(enum.StrEnum):
    CONFIRM_NOMINATION = "confirm_nomination"
    NOMINEE = "nominee"


class LinkToken(Base):
    __tablename__ = "link_token"

    id: Mapped[IntPK]
    purpose: Mapped[str] = mapped_column(sa.String(32))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    subject_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    created_at: Mapped[UTCTime]
    expires_at: Mapped[UTCTime]
    used_at: Mapped[UTCTime | None]
    revoked_at: Mapped[UTCTime | None]


class TokenError(ServiceError):
    """A link token cannot be redeemed; ``reason`` (the code) is unknown, used, expired or
    revoked."""

    def __init__(self, reason: str, token: LinkToken | None = None) -> None:
        super().__init__(reason, code=reason)
        self.reason = reason
        self.token = token


def issue(
    session: Session, purpose: Purpose, subject_id: int, now: datetime, expires_at: datetime
) -> str:
    """Store the hash of a new token and return the token itself, to be mailed once."""
    token = new_token()
    session.add(
        LinkToken(
            purpose=purpose.value,
            token_hash=token_hash(token),
            subject_id=subject_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token


def redeem(session: Session, purpose: Purpose, token: str, now: datetime) -> LinkToken:
    """Mark the token used and return it; a second use, or a late one, raises TokenError."""
    row = session.scalars(
        select(LinkToken)
        .where(LinkToken.token_hash == token_hash(token), LinkToken.purpose == purpose.value)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise TokenError("unknown")
    if row.revoked_at is not None:
        raise TokenError("revoked", row)
    if row.used_at is not None:
        raise TokenError("used", row)
    if now > row.expires_at:
        raise TokenError("expired", row)
    # Why a conditional UPDATE: two concurrent openings of one link must not both succeed.
    used = session.execute(
        sa.update(LinkToken)
        .where(LinkToken.id == row.id, LinkToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise TokenError("used", row)
    row.used_at = now
    return row
