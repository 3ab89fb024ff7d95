"""Every error the relying party answers is JSON `{"detail": ..., "code": ...}` with the right status.

Set REST_FRAMEWORK["EXCEPTION_HANDLER"] to `relying_party.errors.exception_handler`, and point a
URLconf's handler404/handler500 at the views below. The WWW-Authenticate challenge and Retry-After
are set by DRF from the authentication class and the exceptions; this handler keeps them.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("kunci.relying_party")


class RequestTooLarge(exceptions.APIException):
    """The body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE (Django refuses to read it)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "request_too_large"


def _first_message(detail: Any) -> tuple[str, str]:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    return str(detail), getattr(detail, "code", "invalid")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Turn any exception raised in a DRF view into a JSON error; unexpected ones become a bare 500."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        # Django answers these 400 outside DRF; inside a view they come from reading request.POST
        # or request.body directly (TooManyFieldsSent), or from request.get_host() (DisallowedHost).
        exc = exceptions.ParseError("Bad request.", "bad_request")
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in %s", type(context.get("view")).__name__)
        return Response({"detail": "Internal server error.", "code": "server_error"}, status=500)
    message, code = _first_message(exc.detail)
    if isinstance(exc, exceptions.ValidationError) and code == "invalid":
        code = "invalid_input"
    response.data = {"detail": message, "code": code}
    return response


def json_error(status_code: int, detail: str, code: str) -> JsonResponse:
    """Return the JSON error body every Kunci service answers with."""
    return JsonResponse({"detail": detail, "code": code}, status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(400, "Bad request.", "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(403, "Permission denied.", "permission_denied")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(404, "Not found.", "not_found")


def server_error(request: HttpRequest) -> JsonResponse:
    return json_error(500, "Internal server error.", "server_error")
