"""The issuer's API errors: small APIException subclasses, each with a stable code."""
from __future__ import annotations

from rest_framework import exceptions

from idp.tokens import TokenRejected
from relying_party.authentication import bearer_challenge as relying_party_challenge

REALM = "kunci"


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = "Unable to log in with the provided credentials."
    default_code = "invalid_credentials"


class InvalidToken(exceptions.AuthenticationFailed):
    """A token was presented and refused; the code says why."""

    def __init__(self, rejection: TokenRejected) -> None:
        super().__init__(rejection.detail, rejection.code)


class TooManyLoginAttempts(exceptions.Throttled):
    default_detail = "Too many failed logins."
    default_code = "too_many_attempts"

    def __init__(self, wait: int) -> None:
        super().__init__(wait=wait, detail="Too many failed logins.")


class PasswordCheckBusy(exceptions.APIException):
    """Every password hashing slot of the worker is taken: retry shortly, on this or another worker."""

    status_code = 503
    default_detail = "Too many password checks in progress; try again shortly."
    default_code = "server_busy"

    def __init__(self) -> None:
        super().__init__()
        self.wait = 1  # DRF turns `wait` into Retry-After (RFC 9110 §10.2.3).


class KeyringUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The issuer's signing keys are unavailable; try again later."
    default_code = "keyring_unavailable"


class TokenNotYours(exceptions.PermissionDenied):
    default_detail = "This refresh token belongs to another user."
    default_code = "token_not_yours"


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    """Return the issuer's RFC 6750 §3 `WWW-Authenticate` value."""
    return relying_party_challenge(error, description, realm=REALM)
