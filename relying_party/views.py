"""The demo's endpoints: who the caller is according to its access token, liveness and readiness."""
from __future__ import annotations

import time

from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from relying_party.authentication import JWKSAuthentication
from relying_party.conf import rp_settings
from relying_party.jwks import JWKSStats
from relying_party.state import default_verifier
from relying_party.verifier import VerifiedToken

# Seconds a load balancer is asked to wait before probing a relying party without keys again.
NOT_READY_RETRY_AFTER = 5


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
    """Answer 200 without touching the token, the JWKS or the database (liveness)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # A probe may send any Accept header (or none); it always gets JSON.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request) -> Response:
        return Response({"status": "ok", "app": rp_settings.APP_NAME}, headers={"Cache-Control": "no-store"})


class ReadyView(HealthView):
    """Answer 200 while the JWKS cache holds usable keys, else 503 (readiness).

    A relying party without keys fetches them here: behind a load balancer that sends no traffic
    until it is ready, no token would ever make it fetch.
    """

    def get(self, request: Request) -> Response:
        jwks = default_verifier().jwks
        if not _holds_usable_keys(jwks.stats()):
            jwks.refresh()
        if _holds_usable_keys(jwks.stats()):
            return Response(
                {"status": "ready", "app": rp_settings.APP_NAME, "checks": {"jwks": "ok"}},
                headers={"Cache-Control": "no-store"},
            )
        return Response(
            {
                "detail": "Not ready: no usable keys from the issuer's JWKS.",
                "code": "not_ready",
                "app": rp_settings.APP_NAME,
                "checks": {"jwks": "unavailable"},
            },
            status=503,
            headers={"Cache-Control": "no-store", "Retry-After": str(NOT_READY_RETRY_AFTER)},
        )


def _holds_usable_keys(stats: JWKSStats) -> bool:
    # The cache serves keys up to MAX_STALE past their expiry (DESIGN, JWKS rule 3); its clock
    # is time.monotonic.
    return bool(stats.kids) and time.monotonic() < stats.expires_at + rp_settings.MAX_STALE
