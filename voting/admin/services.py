"""Staff accounts and login. (Filled in by the staff-auth work.)"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from voting.admin.models import User


def load_user(session: Session, cookie: Mapping[str, Any], now: datetime) -> User | None:
    """The staff user of this browser session, if logged in and not expired."""
    uid = cookie.get("staff_uid")
    return session.get(User, uid) if isinstance(uid, int) else None
