"""DRF authentication with Kunci access tokens, verified locally against the issuer's JWKS.

Add `relying_party.authentication.JWKSAuthentication` to DEFAULT_AUTHENTICATION_CLASSES. A refused
token is a 401 whose challenge says why (RFC 6750 §3); an unreachable JWKS is a 503 with
Retry-After. Both work with DRF's own exception handler; relying_party.errors adds the `code`.

With RELYING_PARTY ACCESS_COOKIE_NAME set, a request without an Authorization header may carry
the access token in the issuer's cookie instead (the issuer's cookie mode). The token is verified
exactly like a bearer token; the cookie is an ambient credential, so an unsafe request it
authenticates needs Django's CSRF token as well (`relying_party.errors.enforce_csrf`).
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
    """Authenticate `Authorization: Bearer <access token>`, or the issuer's access-token cookie when
    ACCESS_COOKIE_NAME names it; return None when the request carries neither."""

    def authenticate(self, request: Request) -> tuple[Any, VerifiedToken] | None:
        try:
            presented = self.presented_token(request)
            if presented is None:
                return None
            verified = default_verifier().verify(presented)
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

    def presented_token(self, request: Request) -> str | None:
        """Return the access token `request` carries: a Bearer header's, else the cookie's, else None.

        The Bearer header wins: a script that sends it chose its token, and needs no CSRF token.
        Raises CsrfFailed for an unsafe request that only the cookie authenticates, without a valid
        CSRF token.
        """
        parts = authentication.get_authorization_header(request).split()
        if parts and parts[0].lower() == b"bearer":
            return bearer_token(parts, max_token_bytes=rp_settings.MAX_TOKEN_BYTES)
        name = rp_settings.ACCESS_COOKIE_NAME
        token = request.COOKIES.get(name) if name else None
        if not token:
            return None
        errors.enforce_csrf(request)
        return token

    def authenticate_header(self, request: Request) -> str:
        # RFC 6750 §3.1: no error code when the request simply had no credentials.
        rejection = getattr(request, _REJECTION_ATTRIBUTE, None)
        if rejection is None:
            return bearer_challenge()
        return bearer_challenge("invalid_token", rejection.description)
