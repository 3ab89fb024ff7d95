"""The language of the issuer's pages for an OpenID client: the person's choice, then the client's.

Every page starts in the language settings/languages.py chose: the switcher's cookie, else
Accept-Language. A client may send `ui_locales` (OpenID Connect Core §3.1.2.1 for the authorization
request, RP-Initiated Logout 1.0 §2 for the logout request): the End-User's preferred languages, a
space-separated list of BCP47 tags in order of preference. Its first tag that Kunci has a
catalogue for wins over Accept-Language on every page of that request: the sign-in page reads it
from its `next`, the consent page from the request it carries, the logout confirmation from its
form. A language the person picked on the switcher wins over the client's, or the switcher could
not change those pages.
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

# Tags looked at, at most: a browser never sends more than a handful, and each costs a lookup.
MAX_TAGS = 16


def ui_language(ui_locales: str | None) -> str | None:
    """Return the first language of the `ui_locales` tags that Kunci's pages speak, or None."""
    for tag in (ui_locales or "").split()[:MAX_TAGS]:
        try:
            # BCP47 tags are case-insensitive (RFC 5646 §2.1.1); `ko-KR` falls back to `ko`.
            return translation.get_supported_language_variant(tag.lower())
        except LookupError:
            continue
    return None


def chosen_language(request: HttpRequest) -> str | None:
    """Return the language the person picked on the switcher, if it is one Kunci speaks."""
    language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    return language if language in dict(settings.LANGUAGES) else None


def follow_ui_locales(request: HttpRequest, ui_locales: str | None) -> None:
    """Answer `request` in the first language of `ui_locales` that Kunci speaks, unless the person chose one."""
    language = ui_language(ui_locales)
    if language is None or chosen_language(request) is not None:
        return
    translation.activate(language)
    request.LANGUAGE_CODE = language
