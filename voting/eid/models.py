"""A staff account's Swedish eID: a keyed hash of the personnummer, never the number itself."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from voting.db import Base, UTCTime


class StaffEid(Base):
    """The eID that may sign in to one staff account (optional; password and TOTP stay)."""

    __tablename__ = "staff_eid"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), primary_key=True)
    # HMAC of the canonical personnummer under its own purpose ("staff-eid"), so that it matches
    # neither the member register's look-up hash nor anything in the log.
    pnr_lookup: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[UTCTime]
