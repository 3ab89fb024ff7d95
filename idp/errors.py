"""Every error the JSON API answers is `{"detail": ..., "code": ...}` with the right status.

The issuer's domain errors (idp/exceptions.py, and the token refusals it shares with relying
parties) become the API exceptions below; DRF's exceptions are normalised by `exception_handler`;
Django-level failures (unknown paths, unexpected exceptions) by the relying party's JSON handlers,
and oversize bodies by the middleware below. 401s carry an RFC 6750 §3 `WWW-Authenticate`
challenge, with `error="invalid_token"` only when a token was presented and refused. Unexpected
exceptions are logged once, as one line, under `kunci.idp`. A database or cache outage
(idp/outages.py) is a 503 with Retry-After, in a DRF view or outside one (`server_error`).
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from idp.exceptions import AccountRequestsThrottled, IssuerError, TokenRejected
from idp.hashers import PasswordHashingBusy
from idp.outages import dependency_outage
from keys.exceptions import KeyringError

# The JSON error shapes are the relying party's: one contract for every Kunci service. (The
# import rule runs the other way only: relying_party never imports the issuer.)
from relying_party import errors as relying_party_errors
from relying_party.errors import exception_handler as json_exception_handler
from relying_party.errors import json_error
from relying_party.errors import server_error as json_server_error

logger = logging.getLogger("kunci.idp")

REALM = "kunci"


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    """Return the issuer's RFC 6750 §3 `WWW-Authenticate` value."""
    return relying_party_errors.bearer_challenge(error, description, realm=REALM)


class InvalidCredentials(exceptions.AuthenticationFailed):
    """A refused username or password: 401 with no error code, since no token was presented."""

    default_detail = "Unable to log in with the provided credentials."
    default_code = "invalid_credentials"


class InvalidToken(exceptions.AuthenticationFailed):
    """A token was presented and refused; the code says why."""

    def __init__(self, rejection: TokenRejected) -> None:
        super().__init__(rejection.description, rejection.code)
        self.rejection = rejection


class Refused(exceptions.PermissionDenied):
    """403 for a domain error about a request that authenticated (e.g. someone else's token)."""

    def __init__(self, error: IssuerError) -> None:
        super().__init__(error.description, error.code)


class TooManyLoginAttempts(exceptions.Throttled):
    default_detail = "Too many failed logins."
    default_code = "too_many_attempts"

    def __init__(self, wait: int) -> None:
        super().__init__(wait=wait, detail="Too many failed logins.")


class TooManyRequests(exceptions.Throttled):
    """429 for a throttled domain error (`wait` seconds, which DRF sends as Retry-After)."""

    def __init__(self, error: AccountRequestsThrottled) -> None:
        super().__init__(wait=error.wait, detail=error.description, code=error.code)


class PasswordCheckBusy(exceptions.APIException):
    """Every password hashing slot of the worker is taken: retry shortly, on this or another worker."""

    status_code = 503
    default_detail = "Too many password checks in progress; try again shortly."
    default_code = "server_busy"

    def __init__(self) -> None:
        super().__init__()
        self.wait = 1  # DRF turns `wait` into Retry-After (RFC 9110 §10.2.3).


class KeyringUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The issuer's signing keys are unavailable; try again later."
    default_code = "keyring_unavailable"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Answer JSON `{detail, code}` like a relying party, naming missing fields and challenging 401s."""
    if isinstance(exc, TokenRejected):
        exc = InvalidToken(exc)
    elif isinstance(exc, KeyringError):
        # Keyring errors carry no key material, but their wording is for operators, not clients.
        logger.error("keyring unavailable: %s", exc)
        exc = KeyringUnavailable()
    elif isinstance(exc, PasswordHashingBusy):
        exc = PasswordCheckBusy()
    outage = dependency_outage(exc)
    if outage is not None:
        _log_outage(outage, exc)
        exc = outage
    response = json_exception_handler(exc, context, log=logger)
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        fields = exc.detail
        missing = sorted(name for name, errors in fields.items() if _codes(errors) == {"required"})
        if missing:
            response.data = {"detail": f"Missing field(s): {', '.join(missing)}.", "code": "missing_field"}
        elif next(iter(fields)) != "non_field_errors":
            response.data["detail"] = f"{next(iter(fields))}: {response.data['detail']}"
        response.data["fields"] = {name: [str(error) for error in errors] for name, errors in fields.items()}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        # RFC 6750 §3.1: an error code only when a token was presented and refused. No token (a
        # missing header, a wrong password) gets the bare challenge.
        # A refused token carries its rejection, the issuer's or (in a view of the relying party's) its own.
        if getattr(exc, "rejection", None) is not None:
            response["WWW-Authenticate"] = bearer_challenge("invalid_token", response.data["detail"])
        else:
            response["WWW-Authenticate"] = bearer_challenge()
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer an exception that escaped outside DRF: 503 for a dependency outage, else a JSON 500.

    Django calls handler500 while it handles the exception, so `sys.exc_info()` names it.
    """
    exc = sys.exc_info()[1]
    outage = dependency_outage(exc)
    if outage is None:
        return json_server_error(request, log=logger)
    _log_outage(outage, exc)
    response = json_error(outage.status_code, str(outage.detail), outage.default_code)
    response["Retry-After"] = str(outage.wait)
    # Logged above as one line; Django would log it again, with its traceback, under django.request.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _log_outage(outage: Exception, exc: BaseException | None) -> None:
    # One line: an outage is expected operations, and a traceback per request would bury the log.
    logger.warning("%s: %s: %s", outage.default_code, type(exc).__name__, exc)


def _codes(errors: Any) -> set[str]:
    return {getattr(error, "code", "invalid") for error in errors} if isinstance(errors, list) else {"invalid"}


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
            return json_error(400, "Content-Length is not a number.", "bad_request")
        if length < 0:
            return json_error(400, "Content-Length is negative.", "bad_request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return json_error(413, f"Request body is larger than {limit} bytes.", "request_too_large")
        return self.get_response(request)
