"""Which language answers a request: a page speaks its reader's language, the JSON API English.

Django's LocaleMiddleware chooses a page's language from the language cookie (the switcher on
every page sets it through Django's `set_language` view), then Accept-Language, then LANGUAGE_CODE.
The issuer's pages of an authorization put the client's `ui_locales` between the first two
(idp/accounts/languages.py). This middleware adds what Kunci's contracts need:

- A DRF view (the JSON API, the public documents, the probes) answers in LANGUAGE_CODE: its
  `detail` strings are a machine contract, and DRF's own messages ("Authentication credentials
  were not provided.") would otherwise follow Accept-Language.
- Only an HTML answer names its language (Content-Language) and varies on Accept-Language. JSON
  keeps its headers, so that no cache keeps a copy of the JWKS per language.
- The language lives as long as its request, not in the worker thread after it.
"""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from rest_framework.views import APIView


def is_api_view(view_func: Callable) -> bool:
    """Return whether `view_func` is a DRF view (APIView.as_view() and @api_view set `cls`)."""
    view_class = getattr(view_func, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class LanguageMiddleware(LocaleMiddleware):
    """LocaleMiddleware, with the JSON API in LANGUAGE_CODE and the language headers on pages only."""

    def process_view(self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict) -> None:
        if is_api_view(view_func):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith("text/html"):
            response = super().process_response(request, response)
        translation.deactivate()
        return response
