"""Send the Content-Security-Policy of settings.SECURE_CSP on every response that has none.

Django 5.2 has no CSP support; Django 6.0 adds `django.middleware.csp.ContentSecurityPolicyMiddleware`
reading a SECURE_CSP of this same shape (directive -> list of sources). Kunci's policy is one fixed
header with no nonces or per-view changes, which takes the few lines below; django-csp would add a
dependency and its own settings format for that, only to be replaced on the upgrade. On Django 6.0,
delete this module and list Django's middleware instead.
"""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def build_policy(directives: dict[str, list[str]]) -> str:
    """Return the header value for `directives`, e.g. `default-src 'self'; frame-ancestors 'none'`."""
    # CSP 3 §2.2: a policy is directives separated by ";", each a name and its sources.
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    """Add SECURE_CSP to responses; a view that set its own policy keeps it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Read at call time, so override_settings and a changed policy apply at once.
        directives = getattr(settings, "SECURE_CSP", None)
        if directives and HEADER not in response:
            response[HEADER] = build_policy(directives)
        return response
