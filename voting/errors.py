"""The one base of the app's service errors that carry a field, a code and params.

``code`` is a stable name for what went wrong and ``params`` its data, for callers that make
their own message rather than show ``message``; ``field`` names the input at fault, if any.
Features subclass it (staff accounts, candidate review), so a command or view that runs
services of several features catches one class.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base: ``message`` for the user, ``field``, ``code`` and ``params`` for the caller."""

    status = 400

    def __init__(
        self,
        message: str,
        field: str | None = None,
        code: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.params = params or {}
