"""The ballot domain's errors; each carries a stable ``code`` the web layer maps to a status."""

from __future__ import annotations


class BallotError(Exception):
    """Base of every error in ``ballots``: a machine ``code`` and a message naming the field."""

    code = "ballot_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidEncoding(BallotError):
    """A base64url field is padded, uses a foreign alphabet or has stray trailing bits."""

    code = "bad_encoding"


class InvalidBallot(BallotError):
    """A ballot text is not the canonical ballot of this contest, or breaks its rule."""

    code = "invalid_ballot"


class InvalidKey(BallotError):
    """An RSA key is missing, of the wrong type or too short for this election."""

    code = "invalid_key"


class InvalidSignature(BallotError):
    """An RSA-PSS signature does not verify under the contest's public key."""

    code = "invalid_signature"


class BlindingError(BallotError):
    """The client could not blind a message (RFC 9474 "invalid input" / "blinding error")."""

    code = "blinding_error"


class BlindSignError(BallotError):
    """The server refused or failed to sign a blinded message."""

    code = "blind_sign_error"


class InvalidBlindedMessage(BlindSignError):
    """The blinded message has the wrong length or is not below the modulus (client's fault)."""

    code = "invalid_blinded_msg"


class SigningFailure(BlindSignError):
    """The CRT result failed the ``s^e mod n == m`` check (server's fault; never answer it)."""

    code = "signing_failure"


class ClientError(BallotError):
    """The reference client got an unexpected answer from the server."""

    code = "client_error"


class ApiError(ClientError):
    """The server answered with an error body ``{"error": code, "message": ...}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.status = status

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.code}: {self.message}"
