"""The issuer's own bearer authentication: a Kunci access token whose login session is still open."""
from __future__ import annotations

from typing import Any

from rest_framework import authentication
from rest_framework.request import Request

from idp import sessions
from idp.errors import InvalidToken, bearer_challenge
from idp.exceptions import SessionEnded, TokenRejected, UserInactive
from idp.verification import ACCESS_PROFILE, verifier
from relying_party.verifier import VerifiedToken, bearer_token


class AccessTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate `Authorization: Bearer <access token>`; return None for any other scheme."""

    def authenticate(self, request: Request) -> tuple[Any, VerifiedToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        access = verifier(ACCESS_PROFILE)
        try:
            token = access.verify(bearer_token(parts, max_token_bytes=access.max_token_bytes))
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

    def authenticate_header(self, request: Request) -> str:
        return bearer_challenge()
