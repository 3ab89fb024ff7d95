"""DRF authentication with Kunci access tokens, verified locally against the issuer's JWKS.

Add `relying_party.authentication.JWKSAuthentication` to DEFAULT_AUTHENTICATION_CLASSES. A refused
token is a 401 whose challenge says why (RFC 6750 §3); an unreachable JWKS is a 503 with
Retry-After. Both work with DRF's own exception handler; relying_party.errors adds the `code`.
"""
from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions, status
from rest_framework.request import Request

from relying_party import errors
from relying_party.conf import rp_settings
from relying_party.exceptions import JWKSUnavailable, TokenRejected
from relying_party.state import default_verifier
from relying_party.verifier import VerifiedToken, bearer_token
# Where authenticate() leaves its refusal for authenticate_header(), which DRF calls without it.
_REJECTION_ATTRIBUTE = "_kunci_token_rejection"


class InvalidToken(exceptions.AuthenticationFailed):
    """A bearer token was presented and refused; the code says why."""

    def __init__(self, rejection: TokenRejected) -> None:
        super().__init__(rejection.description, rejection.code)
        self.rejection = rejection


class KeysUnavailable(exceptions.APIException):
    """The issuer's keys cannot be had right now: 503, and Retry-After says when to come back."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = JWKSUnavailable.description
    default_code = JWKSUnavailable.code

    def __init__(self, error: JWKSUnavailable) -> None:
        super().__init__()
        # DRF's handler turns `wait` into Retry-After.
        self.wait = error.retry_after


def bearer_challenge(error: str | None = None, description: str | None = None, realm: str | None = None) -> str:
    """Return an RFC 6750 §3 `WWW-Authenticate` value for `realm` (by default this service's name)."""
    return errors.bearer_challenge(error, description, realm=rp_settings.APP_NAME if realm is None else realm)


class ClaimsUser:
    """A user known only from a verified token: no database row, no password, no permissions."""

    is_active = True
    is_staff = False
    is_superuser = False
    is_anonymous = False
    is_authenticated = True

    def __init__(self, token: VerifiedToken) -> None:
        self.token = token
        self.claims = token.claims
        self.issuer: str = token.claims["iss"]
        self.id = self.pk = token.claims["sub"]
        self.username = _profile_claim(token.claims, "username") or self.id
        self.email = _profile_claim(token.claims, "email")

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, module: str) -> bool:
        return False

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"<ClaimsUser sub={self.id!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClaimsUser) and (self.issuer, self.id) == (other.issuer, other.id)

    def __hash__(self) -> int:
        return hash((self.issuer, self.id))


def _profile_claim(claims: Any, name: str) -> str:
    value = claims.get(name)
    return value if isinstance(value, str) else ""


class JWKSAuthentication(authentication.BaseAuthentication):
    """Authenticate `Authorization: Bearer <access token>`; return None for any other scheme."""

    def authenticate(self, request: Request) -> tuple[Any, VerifiedToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        try:
            verified = default_verifier().verify(bearer_token(parts, max_token_bytes=rp_settings.MAX_TOKEN_BYTES))
        except TokenRejected as e:
            setattr(request, _REJECTION_ATTRIBUTE, e)
            raise InvalidToken(e) from e
        except JWKSUnavailable as e:
            raise KeysUnavailable(e) from e
        if not rp_settings.LOCAL_USERS:
            return ClaimsUser(verified), verified
        # Imported here: the model exists only where the relying_party app is installed.
        from relying_party.models import ExternalIdentity

        try:
            user = ExternalIdentity.objects.user_for(verified)
        except TokenRejected as e:
            setattr(request, _REJECTION_ATTRIBUTE, e)
            raise InvalidToken(e) from e
        return user, verified

    def authenticate_header(self, request: Request) -> str:
        # RFC 6750 §3.1: no error code when the request simply had no credentials.
        rejection = getattr(request, _REJECTION_ATTRIBUTE, None)
        if rejection is None:
            return bearer_challenge()
        return bearer_challenge("invalid_token", rejection.description)
