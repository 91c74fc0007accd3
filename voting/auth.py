"""Roles and the one access decorator used by every protected view."""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, jsonify, redirect, request, url_for

F = TypeVar("F", bound=Callable[..., Any])


class Role(enum.StrEnum):
    ADMIN = "admin"
    COMMITTEE = "committee"
    AUDITOR = "auditor"


# Admins may do all the committee may; the auditor only reads.
GRANTS: dict[Role, frozenset[Role]] = {
    Role.ADMIN: frozenset({Role.ADMIN, Role.COMMITTEE, Role.AUDITOR}),
    Role.COMMITTEE: frozenset({Role.COMMITTEE, Role.AUDITOR}),
    Role.AUDITOR: frozenset({Role.AUDITOR}),
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def role_required(*roles: Role) -> Callable[[F], F]:
    """Let through a logged-in staff user holding any of ``roles``; 403 for JSON, login for HTML."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = g.get("user")
            if user is not None and any(r in GRANTS[Role(user.role)] for r in roles):
                return view(*args, **kwargs)
            if wants_json():
                response = jsonify(
                    error="forbidden", message="This needs a staff login with rights."
                )
                response.status_code = 403
                return response
            if user is not None:
                abort(403)
            return redirect(url_for("admin.login", next=request.full_path))

        return wrapped  # type: ignore[return-value]

    return decorator
