"""Where the sign-in page may send the browser next, and which client it is signing in to."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from idp.models import Client

NEXT_MAX_LENGTH = 4096


def safe_next(value: object) -> str | None:
    """Return `value` if it is a path on this issuer, else None: never an open redirect.

    Only a path that starts with one "/" qualifies: no scheme (`https:`, `javascript:`), no
    network location (`//evil.example`), and no backslash that a browser would read as a slash
    (`/\\evil.example`). Django's `url_has_allowed_host_and_scheme` with no allowed host refuses
    every URL that names a host, control characters included (OWASP Unvalidated Redirects).
    """
    if not isinstance(value, str) or not value or len(value) > NEXT_MAX_LENGTH:
        return None
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts=set()):
        return None
    return value


def _authorization_path() -> str:
    try:
        return reverse("authorize")
    except NoReverseMatch:
        # The authorization endpoint's path, before its route is registered.
        return "/authorize"


def _authorization_query(next_url: str | None) -> dict[str, list[str]]:
    """Return the query of `next_url` when it is an authorization request on this issuer, else {}."""
    if not next_url:
        return {}
    parts = urlsplit(next_url)
    if parts.path.rstrip("/") != _authorization_path().rstrip("/"):
        return {}
    return parse_qs(parts.query)


def client_for(next_url: str | None) -> Client | None:
    """Return the registered client of `next_url` when it is an authorization request (its `client_id`), else None."""
    client_ids = _authorization_query(next_url).get("client_id") or []
    if len(client_ids) != 1 or not client_ids[0] or len(client_ids[0]) > 64:
        return None
    return Client.objects.filter(client_id=client_ids[0]).first()


def login_hint_of(next_url: str | None) -> str:
    """Return the `login_hint` of `next_url` when it is an authorization request, else ""."""
    if client_for(next_url) is None:
        return ""
    hints = _authorization_query(next_url).get("login_hint") or [""]
    return hints[0][:254]


def ui_locales_of(next_url: str | None) -> str:
    """Return the `ui_locales` of `next_url` when it is an authorization request, else ""."""
    return (_authorization_query(next_url).get("ui_locales") or [""])[0]
