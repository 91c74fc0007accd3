"""Errors of postal voting: a stable ``code``, the ``params`` that explain it."""

from __future__ import annotations

from typing import Any

from voting.errors import VotingError


class PostalError(VotingError):
    """A postal action refused; ``code`` names why, ``params`` say about what."""

    status = 409

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message, code=code)
        self.params = params
