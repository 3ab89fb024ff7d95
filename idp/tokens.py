"""Kunci's tokens: simplejwt's token classes, signed RS256 by the keyring with `kid` and `typ` headers.

simplejwt supplies the claims handling, the OutstandingToken/BlacklistedToken tables and the
authentication plumbing. Kunci replaces its backend: sign with the keyring's active key, verify
with the key the header's `kid` names among those still published, and pin the algorithm.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from uuid import uuid4

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework_simplejwt import tokens as simplejwt_tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.utils import datetime_from_epoch
from rest_framework_simplejwt.exceptions import (
    ExpiredTokenError,
    TokenBackendError,
    TokenBackendExpiredToken,
    TokenError,
)

from idp.conf import idp_settings
from keys import keyring
from keys.exceptions import UnknownKey

ALGORITHM = "RS256"
# RFC 9068 §2.1 names access tokens `at+jwt`; a refresh token gets a distinct type so that
# no relying party can mistake one for the other, even one that ignores `token_type`.
TYP_BY_TOKEN_TYPE = {"access": "at+jwt", "refresh": "refresh+jwt"}
REQUIRED_CLAIMS = ["exp", "iat", "jti", "iss", "aud", "sub", "token_type", "sid"]
# A Kunci token is about 1 KB; anything over 8 KB is refused before any parsing or crypto.
MAX_TOKEN_LENGTH = 8192


class TokenRejected(TokenError):
    """A token failed a check; `code` is the stable machine-readable reason."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _RejectedByBackend(TokenBackendError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


_PYJWT_CODES: list[tuple[type[Exception], str, str]] = [
    (jwt.InvalidAudienceError, "wrong_audience", "Token is not for this audience"),
    (jwt.InvalidIssuerError, "wrong_issuer", "Token is from another issuer"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid", "Token is not valid yet"),
    (jwt.MissingRequiredClaimError, "token_invalid", "Token lacks a required claim"),
    (jwt.InvalidAlgorithmError, "token_invalid", "Token uses a disallowed algorithm"),
    (jwt.InvalidSignatureError, "token_invalid", "Token signature is invalid"),
    (jwt.InvalidTokenError, "token_invalid", "Token is invalid"),
]


class KeyringTokenBackend(TokenBackend):
    """Sign with the active key and verify with the published key named by `kid`; read no settings."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        leeway: int | float | timedelta,
        signing_key: Callable[[], keyring.ActiveKey],
        verifying_key: Callable[[str], rsa.RSAPublicKey],
        max_lifetime: timedelta,
    ) -> None:
        super().__init__(ALGORITHM, audience=audience, issuer=issuer, leeway=leeway)
        self._signing_key = signing_key
        self._verifying_key = verifying_key
        self.max_lifetime = max_lifetime

    def encode(self, payload: dict[str, Any]) -> str:
        active = self._signing_key()
        headers = {"kid": active.kid, "typ": TYP_BY_TOKEN_TYPE[payload["token_type"]]}
        claims = {**payload, "iss": self.issuer, "aud": self.audience}
        return jwt.encode(claims, active.private_key, algorithm=ALGORITHM, headers=headers)

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        if not verify:
            raise _RejectedByBackend("token_invalid", "Kunci never decodes a token unverified")
        if len(token) > MAX_TOKEN_LENGTH:
            raise _RejectedByBackend("token_too_large", f"Token is longer than {MAX_TOKEN_LENGTH} bytes")
        # RFC 7515 §2: base64url without padding. PyJWT checks the rest of each segment's
        # canonical form, but tolerates '=', which would let two strings carry one signature.
        if "=" in token:
            raise _RejectedByBackend("token_invalid", "Token segments must not be padded")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise _RejectedByBackend("token_invalid", "Token is malformed") from e
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _RejectedByBackend("token_invalid", "Token has no kid")
        try:
            key = self._verifying_key(kid)
        except UnknownKey as e:
            raise _RejectedByBackend("unknown_key", "Token is signed by an unknown or revoked key") from e
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.get_leeway(),
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as e:
            raise TokenBackendExpiredToken("Token is expired") from e
        except jwt.InvalidTokenError as e:
            code, detail = next((c, d) for cls, c, d in _PYJWT_CODES if isinstance(e, cls))
            raise _RejectedByBackend(code, detail) from e
        # No token outlives the longest configured lifetime; this also keeps absurd exp values
        # away from datetime arithmetic further down.
        latest = datetime.now(tz=timezone.utc) + self.max_lifetime + self.get_leeway()
        if payload["exp"] > latest.timestamp():
            raise _RejectedByBackend("token_invalid", "Token expires further ahead than any token Kunci issues")
        if header.get("typ") != TYP_BY_TOKEN_TYPE.get(payload.get("token_type")):
            raise _RejectedByBackend("token_wrong_type", "Token has the wrong type")
        return payload


@lru_cache(maxsize=1)
def token_backend() -> KeyringTokenBackend:
    """Return the issuer's backend, built from the current settings (rebuilt when they change)."""
    return KeyringTokenBackend(
        issuer=idp_settings.ISSUER,
        audience=idp_settings.AUDIENCE,
        leeway=idp_settings.LEEWAY,
        signing_key=keyring.signing_key,
        verifying_key=keyring.verifying_key,
        max_lifetime=max(idp_settings.ACCESS_TOKEN_LIFETIME, idp_settings.REFRESH_TOKEN_LIFETIME),
    )


@receiver(setting_changed)
def _forget_token_backend(*, setting: str, **kwargs: Any) -> None:
    if setting in ("KUNCI_IDP", "KUNCI_KEYS"):
        token_backend.cache_clear()


def _rejection(error: TokenError) -> TokenRejected:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, (_RejectedByBackend, TokenRejected)):
            return TokenRejected(cause.code, cause.detail)
        if isinstance(cause, (ExpiredTokenError, TokenBackendExpiredToken)):
            return TokenRejected("token_expired", "Token is expired")
        cause = cause.__cause__
    return TokenRejected("token_invalid", str(error) or "Token is invalid")


class KunciToken(simplejwt_tokens.Token):
    """Mixin of Kunci's token classes: the keyring backend, lifetimes read at call time, coded errors."""

    lifetime_setting: str = ""

    def __init__(self, token: Any = None, verify: bool = True) -> None:
        try:
            super().__init__(token, verify)
        except TokenRejected:
            raise
        except TokenError as e:
            raise _rejection(e) from e

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return getattr(idp_settings, self.lifetime_setting)

    @property
    def token_backend(self) -> KeyringTokenBackend:  # type: ignore[override]
        return token_backend()

    def verify_token_type(self) -> None:
        if self.payload.get("token_type") != self.token_type:
            raise TokenRejected("token_wrong_type", f"Token is not an {self.token_type} token")

    @property
    def kid(self) -> str:
        """Return the kid in the header of this (decoded) token."""
        return jwt.get_unverified_header(self.token)["kid"]


class AccessToken(KunciToken, simplejwt_tokens.AccessToken):
    lifetime_setting = "ACCESS_TOKEN_LIFETIME"


class RefreshToken(KunciToken, simplejwt_tokens.RefreshToken):
    lifetime_setting = "REFRESH_TOKEN_LIFETIME"
    access_token_class = AccessToken

    def check_blacklist(self) -> None:
        # The blacklist is checked inside the refresh and logout transactions (idp/sessions.py),
        # where a check and its write cannot race; a check here would be a second, racy query.
        return None

    @classmethod
    def for_session(cls, user: Any, sid: str) -> "RefreshToken":
        """Return a new, unsigned refresh token of session `sid` for `user`."""
        token = cls()
        token["user_id"] = str(user.pk)
        token["sub"] = str(user.pk)
        token["sid"] = sid
        token.set_profile(user)
        return token

    def successor(self, user: Any) -> "RefreshToken":
        """Return the next, unsigned refresh token of this session: new jti, iat and exp, current profile."""
        token = type(self)()
        for claim, value in self.payload.items():
            if claim not in self.no_copy_claims:
                token[claim] = value
        # From the user row, not the old token: a changed email reaches relying parties on the
        # next refresh instead of living as long as the session.
        token.set_profile(user)
        return token

    def set_profile(self, user: Any) -> None:
        """Set the profile claims relying parties read."""
        self["username"] = user.get_username()
        self["email"] = getattr(user, "email", "") or ""

    @property
    def expires_at(self) -> datetime:
        """Return this token's `exp` as an aware datetime."""
        return datetime_from_epoch(self.payload["exp"])

    def sign_and_record(self) -> str:
        """Sign this token once and record it as an OutstandingToken; return the encoded token."""
        encoded = str(self)
        OutstandingToken.objects.create(
            user_id=self.payload["user_id"],
            jti=self.payload["jti"],
            # A digest, not the token: whoever reads the database must not get live refresh
            # tokens. Kunci finds outstanding tokens by jti and never reads this column.
            token=hashlib.sha256(encoded.encode()).hexdigest(),
            created_at=self.current_time,
            expires_at=self.expires_at,
        )
        return encoded


def new_sid() -> str:
    """Return a fresh session id."""
    return uuid4().hex
