"""Health endpoints for load balancers and orchestrators: liveness and readiness, both JSON.

`/healthz` says the process answers, and touches nothing else: a database outage must not make
an orchestrator restart healthy issuers. `/readyz` says this issuer can serve logins now: the
database answers and the active signing key loads. Neither needs authentication, and neither
may be cached.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import Error as DatabaseError
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idp.outages import RETRY_AFTER
from keys import keyring
from keys.exceptions import KeyringError

logger = logging.getLogger("kunci.idp")

NO_STORE = {"Cache-Control": "no-store"}


class ProbeView(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # A probe may send any Accept header (or none); it always gets JSON.
        return super().perform_content_negotiation(request, force=True)


class LivenessView(ProbeView):
    """Answer 200 while the process can answer at all; read nothing."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"}, headers=NO_STORE)


class ReadinessView(ProbeView):
    """Answer 200 when the database answers and the keyring loads, else 503 naming what failed."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        checks = {name: _run(name, probe) for name, probe in CHECKS.items()}
        if all(result == "ok" for result in checks.values()):
            return Response({"status": "ready", "checks": checks}, headers=NO_STORE)
        failed = ", ".join(name for name, result in checks.items() if result != "ok")
        return Response(
            {"detail": f"Not ready: {failed} unavailable.", "code": "not_ready", "checks": checks},
            status=503,
            headers={**NO_STORE, "Retry-After": str(RETRY_AFTER)},
        )


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _keyring() -> None:
    keyring.signing_key()


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "keyring": _keyring}


def _run(name: str, probe: Callable[[], None]) -> str:
    try:
        probe()
    except (DatabaseError, KeyringError) as e:
        logger.warning("readiness: %s unavailable: %s: %s", name, type(e).__name__, e)
        return "unavailable"
    return "ok"
