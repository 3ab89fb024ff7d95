"""The issuer's domain errors: each carries a stable machine `code` and a human `description`.

Free of HTTP on purpose, like relying_party/exceptions.py (whose token refusals the issuer shares):
each endpoint renders them its own way. The JSON API answers `{detail, code}` (idp/errors.py);
the OAuth endpoints answer RFC 6749 §5.2 `{error, error_description}`.
"""
from __future__ import annotations

from relying_party.exceptions import CodedError, TokenRejected, UserInactive

__all__ = [
    "AccountInactive",
    "AccountRequestsThrottled",
    "CredentialsRefused",
    "GrantEnded",
    "IssuerError",
    "LinkInvalid",
    "LoginThrottled",
    "PasswordRefused",
    "SessionEnded",
    "TokenAlreadyRotated",
    "TokenBlacklisted",
    "TokenNotYours",
    "ScopeNotGranted",
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


class ScopeNotGranted(IssuerError):
    """A refresh asked for a scope its grant does not hold (RFC 6749 §6)."""

    code = "invalid_scope"
    description = "The requested scope exceeds what was granted."
class AccountInactive(IssuerError):
    """The password is right, but the account was registered and never activated."""

    code = "account_inactive"
    description = (
        "This account is not activated yet. Open the link in the email sent when you registered, "
        "or ask for a new one."
    )


class AccountRequestsThrottled(IssuerError):
    """Too many emailing requests (register, resend, reset) for this address or from this address: wait `wait` seconds."""

    code = "too_many_requests"
    description = "Too many requests for this email address or from this network."

    def __init__(self, wait: int) -> None:
        super().__init__()
        self.wait = wait


class LinkInvalid(IssuerError):
    """An activation or password-reset link that is malformed, tampered with, expired or already used."""

    code = "link_invalid"
    description = "This link is invalid, has expired or was already used."


class PasswordRefused(IssuerError):
    """A password change whose current password is wrong."""

    code = "wrong_password"
    description = "The current password is not correct."


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
