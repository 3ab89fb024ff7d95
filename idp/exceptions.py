"""The issuer's domain errors: each carries a stable machine `code` and a human `description`.

Free of HTTP on purpose, like relying_party/exceptions.py (whose token refusals the issuer shares):
each endpoint renders them its own way. The JSON API answers `{detail, code}` (idp/errors.py);
the OAuth endpoints answer RFC 6749 §5.2 `{error, error_description}`.
"""
from __future__ import annotations

from relying_party.exceptions import CodedError, TokenRejected, UserInactive

__all__ = [
    "CredentialsRefused",
    "GrantEnded",
    "IssuerError",
    "LoginThrottled",
    "SessionEnded",
    "TokenAlreadyRotated",
    "TokenBlacklisted",
    "TokenNotYours",
    "TokenRejected",
    "TokenReused",
    "TokenUnknown",
    "TokenWrongClient",
    "UserInactive",
]


class IssuerError(CodedError):
    """A request the issuer refuses; `code` is the stable reason, `description` says it to a human."""


class CredentialsRefused(IssuerError):
    code = "invalid_credentials"
    description = "Unable to log in with the provided credentials."


class LoginThrottled(IssuerError):
    """Too many refused sign-ins for this username or from this address: wait `wait` seconds."""

    code = "too_many_attempts"
    description = "Too many failed sign-ins."

    def __init__(self, wait: int) -> None:
        super().__init__()
        self.wait = wait


class TokenNotYours(IssuerError):
    code = "token_not_yours"
    description = "This refresh token belongs to another user."


# Refusals of a refresh token that verified: the session and rotation rules (idp/sessions.py).


class TokenUnknown(TokenRejected):
    code = "token_invalid"
    description = "Token is not known to this issuer"


class SessionEnded(TokenRejected):
    code = "session_ended"
    description = "The session of this token has ended"


class TokenBlacklisted(TokenRejected):
    code = "token_blacklisted"
    description = "Token is blacklisted"


class TokenReused(TokenRejected):
    code = "token_reused"
    description = "Token was already used; its session has been ended"


class TokenAlreadyRotated(TokenRejected):
    code = "token_already_rotated"
    description = "A concurrent refresh rotated this token; use the refresh token that replaced it"


class GrantEnded(TokenRejected):
    code = "grant_ended"
    description = "The grant of this token has ended"


class TokenWrongClient(TokenRejected):
    # RFC 6749 §6: the refresh token must have been issued to the client that presents it.
    code = "token_wrong_client"
    description = "This refresh token was issued to another client"
