"""Errors of the eID sign-in. Each carries a stable ``code``; the view makes the message.

None of them holds personal data: not the personnummer, not a claim, not a token.
"""

from __future__ import annotations

from voting.errors import ServiceError


class EidError(ServiceError):
    """Base: ``code`` names what happened."""

    code: str | None = "eid_error"

    def __init__(self, code: str | None = None, detail: str = "") -> None:
        code = code or type(self).code
        super().__init__(detail or code or "eid_error", code=code)
        self.detail = detail


class NotConfigured(EidError):
    """No OpenID provider is configured (EID_ISSUER and EID_CLIENT_ID)."""

    code = "not_configured"


class SignInFailed(EidError):
    """The OpenID Connect exchange failed or its answer was refused: ``code`` says where.

    ``state`` (no flow, or a state that does not match), ``expired`` (the flow is too old),
    ``cancelled`` (the member stopped at the provider), ``provider`` (the provider answered
    with an error), ``token`` (the code exchange failed), ``id_token`` (missing, or its
    signature, issuer, audience, expiry, nonce or acr was refused), ``claim`` (no usable
    personnummer claim), ``flow`` (the flow does not fit the election or session any more).
    """

    code = "failed"


class Refused(EidError):
    """The member or staff user was identified but may not go on: ``code`` says why.

    ``no_match`` (no member with that personnummer), ``not_on_roll``, ``no_vote`` (the krets
    holds no vote), ``window_closed``, ``mismatch`` (link+eid: another member than the link's),
    ``staff_unknown`` (no staff account mapped to that eID, or it is disabled).
    """

    code = "refused"


class EidTaken(EidError):
    """That eID already signs in to another staff account."""

    code = "eid_taken"
