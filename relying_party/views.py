"""The demo's endpoints: who the caller is according to its access token, and a cheap health check."""
from __future__ import annotations

from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from relying_party.authentication import JWKSAuthentication
from relying_party.conf import rp_settings
from relying_party.verifier import VerifiedToken


class WhoAmIView(APIView):
    """Return the caller's identity as this service sees it, straight from the verified token."""

    # Named here, not left to DEFAULT_AUTHENTICATION_CLASSES: DRF reads those when the class is
    # defined, so the answer would depend on which settings were loaded first.
    authentication_classes = [JWKSAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    def get(self, request: Request) -> Response:
        token = request.auth
        if not isinstance(token, VerifiedToken):
            # Authenticated some other way (a session, say): there are no token claims to show.
            raise exceptions.NotAuthenticated("This endpoint needs a Kunci access token.")
        claims = token.claims
        body = {
            "app": rp_settings.APP_NAME,
            "sub": claims["sub"],
            "username": claims.get("username", ""),
            "email": claims.get("email", ""),
            "sid": claims.get("sid"),
            "kid": token.kid,
        }
        # Personal data, answered per token: no cache may keep it.
        return Response(body, headers={"Cache-Control": "no-store"})


class HealthView(APIView):
    """Answer 200 without touching the token, the JWKS or the database."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok", "app": rp_settings.APP_NAME}, headers={"Cache-Control": "no-store"})
