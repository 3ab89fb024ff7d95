"""Every error the relying party answers is JSON `{"detail": ..., "code": ...}` with the right status.

Set REST_FRAMEWORK["EXCEPTION_HANDLER"] to `relying_party.errors.exception_handler`, and point a
URLconf's handler404/handler500 at the views below. The WWW-Authenticate challenge and Retry-After
are set by DRF from the authentication class and the exceptions; this handler keeps them.

An unexpected exception is logged once, as one line (`log_unexpected_error`): Django's own
`django.request` record of the same 500 is suppressed, and the traceback goes out at DEBUG only.

A token carried in a cookie is an ambient credential, which a browser attaches to requests that
other sites make it send. Every Kunci service that accepts one applies the same rule to it,
`enforce_csrf`: an unsafe request it authenticates carries Django's CSRF token, or is refused 403
`csrf_failed`.
"""
from __future__ import annotations

import logging
import re
import sys
from pathlib import PurePath
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse
from django.middleware.csrf import get_token
from rest_framework import exceptions, status
from rest_framework.authentication import CSRFCheck
from rest_framework.request import Request
from rest_framework.response import Response
# The module, not its function: authentication classes (imported while rest_framework.views loads
# its settings) use bearer_challenge from here.
from rest_framework import views as drf_views

logger = logging.getLogger("kunci.relying_party")

# RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E, so no quote, no
# backslash, nothing a header could be split on. The realm is a quoted-string held to the same set.
_CHALLENGE_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")

# Characters of the exception's message and of the path kept in the log line: a 500 costs one
# short line however long the message, so bad requests cannot flood the log.
_MAX_LOGGED_CHARS = 300


class RequestTooLarge(exceptions.APIException):
    """The body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE (Django refuses to read it)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "request_too_large"


class CsrfFailed(exceptions.PermissionDenied):
    """An unsafe request authenticated by a cookie lacks a valid CSRF token (or comes from another origin)."""

    default_detail = "CSRF check failed."
    default_code = "csrf_failed"


def enforce_csrf(request: Request) -> None:
    """Raise CsrfFailed unless `request`, authenticated by a cookie, passes Django's CSRF check.

    Django's own check, as DRF's SessionAuthentication runs it: a safe method (RFC 9110 §9.2.1)
    passes; any other needs an `Origin` of this site when it sends one, a matching `Referer`
    over HTTPS when it sends no `Origin`, and the `X-CSRFToken` header (CSRF_HEADER_NAME) matching
    the service's CSRF cookie. A request that passes gets the CSRF cookie (again) on its answer,
    so that a client that lost it recovers it with any safe request.
    """
    check = CSRFCheck(lambda request: None)
    # Reads the CSRF cookie into request.META, where process_view compares the token with it.
    check.process_request(request)
    reason = check.process_view(request, None, (), {})
    if reason:
        raise CsrfFailed(f"CSRF check failed: {reason}")
    get_token(request)


def bearer_challenge(error: str | None = None, description: str | None = None, *, realm: str) -> str:
    """Return an RFC 6750 §3 `WWW-Authenticate` value for `realm`.

    RFC 6750 §3.1: `error` only when a token was presented and refused; a request that carried no
    token (or a wrong password, which is no token) gets the bare challenge.
    """
    parts = [f'Bearer realm="{_CHALLENGE_UNSAFE.sub("", str(realm))}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_CHALLENGE_UNSAFE.sub("", description)}"')
    return ", ".join(parts)


def log_unexpected_error(
    exc: BaseException, request: HttpRequest | Request | None, response: HttpResponseBase, *, log: logging.Logger = logger
) -> None:
    """Log `exc` as one ERROR line on `log`, with its traceback at DEBUG, and mark `response` as logged.

    One line names the request, the exception and the frame that raised it, which is what an
    operator acts on; a full traceback is several kilobytes per 500 (a log flood anyone can
    trigger), so it is kept for KUNCI_LOG_LEVEL=DEBUG.
    """
    where = "unknown"
    innermost = exc.__traceback__
    while innermost is not None and innermost.tb_next is not None:
        innermost = innermost.tb_next
    if innermost is not None:
        code = innermost.tb_frame.f_code
        where = f"{'/'.join(PurePath(code.co_filename).parts[-2:])}:{innermost.tb_lineno} in {code.co_name}"
    method = getattr(request, "method", None) or "-"
    path = str(getattr(request, "path", "-"))[:_MAX_LOGGED_CHARS]
    message = " ".join(str(exc).split())[:_MAX_LOGGED_CHARS]
    log.error("unexpected %s in %s %s: %s (at %s)", type(exc).__name__, method, path, message, where)
    log.debug("traceback of the %s in %s %s", type(exc).__name__, method, path, exc_info=exc)
    # Django logs every 5xx again under django.request unless the response says it was logged
    # (django.utils.log.log_response checks this flag, and sets it on what it logs itself).
    response._has_been_logged = True  # type: ignore[attr-defined]


def _first_message(detail: Any) -> tuple[str, str]:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    return str(detail), getattr(detail, "code", "invalid")


def exception_handler(exc: Exception, context: dict[str, Any], *, log: logging.Logger = logger) -> Response:
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
    response = drf_views.exception_handler(exc, context)
    if response is None:
        response = Response({"detail": "Internal server error.", "code": "server_error"}, status=500)
        log_unexpected_error(exc, context.get("request"), response, log=log)
        return response
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


def server_error(request: HttpRequest, *, log: logging.Logger = logger) -> JsonResponse:
    """Answer Django's 500 (an exception outside DRF) as JSON, logging it once when one is being handled."""
    response = json_error(500, "Internal server error.", "server_error")
    exc = sys.exc_info()[1]
    if exc is not None:
        log_unexpected_error(exc, request, response, log=log)
    return response
