"""Every error the issuer answers is JSON `{"detail": ..., "code": ...}` with the right status.

DRF's exceptions are normalised by `exception_handler`; Django-level failures (unknown paths,
oversize bodies, unexpected exceptions) by the handlers and middleware below. 401s carry an
RFC 6750 §3 `WWW-Authenticate` challenge.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from idp.exceptions import bearer_challenge

logger = logging.getLogger("kunci.idp")

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
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
        return Response({"detail": "Internal server error.", "code": "server_error"}, status=500)

    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        missing = sorted(name for name, errors in fields.items() if _first_message(errors)[1] == "required")
        if missing:
            body = {"detail": f"Missing field(s): {', '.join(missing)}.", "code": "missing_field"}
        else:
            name = next(iter(fields))
            message, code = _first_message(fields[name])
            prefix = "" if name == "non_field_errors" else f"{name}: "
            body = {"detail": f"{prefix}{message}", "code": code if code != "invalid" else "invalid_input"}
        body["fields"] = {name: [str(m) for m in errors] if isinstance(errors, list) else [str(errors)] for name, errors in fields.items()}
        response.data = body
    else:
        message, code = _first_message(exc.detail)
        response.data = {"detail": message, "code": code}

    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        if isinstance(exc, exceptions.NotAuthenticated):
            response["WWW-Authenticate"] = bearer_challenge()
        else:
            response["WWW-Authenticate"] = bearer_challenge("invalid_token", response.data["detail"])
    return response


def _json_error(status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(400, "Bad request.", "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(403, "Permission denied.", "permission_denied")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(404, "Not found.", "not_found")


def server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(500, "Internal server error.", "server_error")


class RequestBodyLimitMiddleware:
    """Answer 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE before any parser reads it.

    Django enforces that limit only when `request.body` is read; DRF's parsers read the stream
    directly, so the limit is applied here, from Content-Length, for every view.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return _json_error(400, "Content-Length is not a number.", "bad_request")
        if length < 0:
            return _json_error(400, "Content-Length is negative.", "bad_request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return _json_error(413, f"Request body is larger than {limit} bytes.", "request_too_large")
        return self.get_response(request)
