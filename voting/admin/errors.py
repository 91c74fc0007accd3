"""Errors of the staff accounts and sign-in; each message is meant for the user."""

from __future__ import annotations

from voting.errors import ServiceError


class AdminError(ServiceError):
    """Base of the staff-account errors; ``field`` names the input at fault, if any."""

    status = 400


class AccountError(AdminError):
    """A staff account cannot be created: bad email, unknown role, weak password, duplicate."""


class WeakPassword(AccountError):
    """A password the policy refuses; ``code`` says why (too_short, too_long, repetitive,
    common, guessable)."""


class AccountNotFound(AccountError):
    """No staff account has that email address."""


class LoginError(AdminError):
    """A login failed. The message is the same whatever part was wrong."""

    status = 400
