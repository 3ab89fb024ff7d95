"""The issuer's Django-level error views: an HTML page for a browser, Kunci's JSON for everyone else.

A request gets the HTML page only when it asks for `text/html` by name, asks for no JSON, and is
not under /api/ or /.well-known/: a browser opening a page. API clients (Accept: application/json,
*/*, or no Accept at all) and every API path keep the JSON `{detail, code}` answer unchanged.
"""
from __future__ import annotations

import logging
import re
import sys

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.translation import gettext as _

from idp.errors import server_error as json_server_error
from idp.outages import dependency_outage
from relying_party.errors import bad_request as json_bad_request
from relying_party.errors import log_unexpected_error
from relying_party.errors import not_found as json_not_found
from relying_party.errors import permission_denied as json_permission_denied

logger = logging.getLogger("kunci.idp")

_API_PATH = re.compile(r"^/(api|\.well-known)(/|$)")

# A page in case the template itself cannot be rendered (the 500 handler must never fail).
_FALLBACK = '<!DOCTYPE html><html lang="en"><title>Server error</title><main><h1>Server error</h1></main></html>'


def wants_html(request: HttpRequest) -> bool:
    """Return whether `request` is a browser's: text/html named in Accept, no JSON, not an API path."""
    if _API_PATH.match(request.path_info):
        return False
    try:
        named = {(media.main_type.lower(), media.sub_type.lower()) for media in request.accepted_types}
    except Exception:  # an Accept header too broken to parse is not a browser's
        return False
    asks_json = any(sub == "json" or sub.endswith("+json") for _main, sub in named)
    return ("text", "html") in named and not asks_json


def error_page(request: HttpRequest, status: int, title: str, detail: str, code: str = "", **context: object) -> HttpResponse:
    """Render kunci/error.html with `status`; everything shown is escaped by the template."""
    context = {"title": title, "detail": detail, "code": code, **context}
    return HttpResponse(loader.render_to_string("kunci/error.html", context, request), status=status)


def retry_later(response: HttpResponse, wait: int) -> HttpResponse:
    """Return `response` with Retry-After: `wait` seconds (RFC 9110 §10.2.3)."""
    response["Retry-After"] = str(wait)
    return response


def busy_page(request: HttpRequest) -> HttpResponse:
    """The 503 page of a form whose password could not be hashed now: every hashing slot was taken (idp/hashers.py)."""
    return retry_later(
        error_page(request, 503, _("Try again soon"), _("Too many sign-ins in progress. Try again shortly."), "server_busy"),
        1,
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not wants_html(request):
        return json_bad_request(request, exception)
    return error_page(request, 400, _("Bad request"), _("The request could not be understood."), "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not wants_html(request):
        return json_permission_denied(request, exception)
    return error_page(request, 403, _("Permission denied"), _("You may not open this page."), "permission_denied")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Answer a failed CSRF check (Django's CSRF_FAILURE_VIEW): the form is stale or not ours."""
    if not wants_html(request):
        return json_permission_denied(request)
    return error_page(
        request, 403, _("Form expired"),
        _("This form could not be accepted. Go back, reload the page and try again. "
          "Cookies must be enabled for this site."),
        "csrf_failed",
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not wants_html(request):
        return json_not_found(request, exception)
    detail = _("There is no page at %(path)s.") % {"path": request.path[:200]}
    return error_page(request, 404, _("Page not found"), detail, "not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer an exception that escaped a view: 503 for a dependency outage, else 500; logged once."""
    if not wants_html(request):
        return json_server_error(request)
    exc = sys.exc_info()[1]
    outage = dependency_outage(exc)
    if outage is not None:
        # The JSON answer logs the outage as its one line; the page carries the same status and wait.
        json_answer = json_server_error(request)
        response = _static_error_page(
            503, _("Try again soon"), _("Kunci cannot answer right now. Try again in a moment."), outage.default_code
        )
        response["Retry-After"] = json_answer["Retry-After"]
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response
    response = _static_error_page(500, _("Server error"), _("Something went wrong on our side. Try again later."), "server_error")
    if exc is not None:
        log_unexpected_error(exc, request, response, log=logger)
    return response


def _static_error_page(status: int, title: str, detail: str, code: str) -> HttpResponse:
    """Render the error page without the request's context: the failure may be in what it would touch."""
    try:
        body = loader.render_to_string("kunci/error.html", {"title": title, "detail": detail, "code": code})
    except Exception:
        body = _FALLBACK
    return HttpResponse(body, status=status)
