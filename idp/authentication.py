"""The issuer's own authentication: a Kunci access token whose login session is still open.

The token comes in `Authorization: Bearer` or, in cookie mode, in the access cookie
(idp/cookies.py); either way it is verified and checked against its session alike. The Bearer
header is tried first: a request that sends it uses no cookie and needs no CSRF token. An unsafe
request that only the cookie authenticates needs Django's CSRF token.
"""
from __future__ import annotations

from typing import Any

from rest_framework import authentication
from rest_framework.request import Request

from idp import cookies, sessions
from idp.errors import InvalidToken, bearer_challenge
from idp.exceptions import SessionEnded, TokenRejected, UserInactive
from idp.verification import ACCESS_PROFILE, verifier
from relying_party.errors import enforce_csrf
from relying_party.verifier import VerifiedToken, bearer_token


class AccessTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate `Authorization: Bearer <access token>`; return None for any other scheme."""

    def authenticate(self, request: Request) -> tuple[Any, VerifiedToken] | None:
        access = verifier(ACCESS_PROFILE)
        try:
            presented = self.presented_token(request)
            if presented is None:
                return None
            token = access.verify(presented)
        except TokenRejected as e:
            raise InvalidToken(e) from e
        # The issuer holds the sessions, so unlike a relying party it can refuse an access token
        # of an ended session (or grant) before the token expires.
        session = sessions.live_session(token)
        if session is None:
            raise InvalidToken(SessionEnded())
        if not session.user.is_active:
            raise InvalidToken(UserInactive())
        return session.user, token

    def presented_token(self, request: Request) -> str | None:
        """Return the access token of this scheme in `request`, or None when it carries none."""
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        return bearer_token(parts, max_token_bytes=verifier(ACCESS_PROFILE).max_token_bytes)

    def authenticate_header(self, request: Request) -> str:
        return bearer_challenge()


class AccessCookieAuthentication(AccessTokenAuthentication):
    """Authenticate cookie mode's access cookie; return None when the request carries none.

    Raises CsrfFailed (403 `csrf_failed`) for an unsafe request without a valid CSRF token, before
    the token is verified.
    """

    def presented_token(self, request: Request) -> str | None:
        token = cookies.access_token(request)
        if token is None:
            return None
        enforce_csrf(request)
        return token
