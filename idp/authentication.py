"""The issuer's own bearer authentication: a Kunci access token whose login session is still open."""
from __future__ import annotations

from typing import Any

from rest_framework import HTTP_HEADER_ENCODING, authentication
from rest_framework.request import Request

from idp.exceptions import InvalidToken, bearer_challenge
from idp.models import LoginSession
from idp.tokens import AccessToken, TokenRejected


class AccessTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate `Authorization: Bearer <access token>`; return None for any other scheme."""

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise InvalidToken(TokenRejected("token_invalid", "Authorization header must be 'Bearer <token>'"))
        try:
            token = AccessToken(header[1].decode(HTTP_HEADER_ENCODING))
        except TokenRejected as e:
            raise InvalidToken(e) from e
        # The issuer holds the sessions, so unlike a relying party it can refuse an access token
        # of an ended session before the token expires.
        session = (
            LoginSession.objects.select_related("user")
            .filter(sid=token["sid"], user_id=token["user_id"], ended_at__isnull=True)
            .first()
        )
        if session is None:
            raise InvalidToken(TokenRejected("session_ended", "The session of this token has ended"))
        if not session.user.is_active:
            raise InvalidToken(TokenRejected("user_inactive", "User is inactive"))
        return session.user, token

    def authenticate_header(self, request: Request) -> str:
        return bearer_challenge()


