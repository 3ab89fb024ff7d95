"""Cookie mode of the JSON token API: the tokens travel in HttpOnly cookies instead of the body.

`POST /api/login` with `"cookie": true` sets the access and refresh tokens as cookies and answers
no token. `POST /api/login/refresh` without a `refresh` field rotates the refresh cookie and sets
both anew; the API's authenticated endpoints accept the access cookie (idp/authentication.py);
`POST /api/logout` by the access cookie ends its session and clears both. Every attribute is policy:

- `HttpOnly`: no script, an injected one included, can read a token;
- `Secure`, except to a loopback host in demo mode (COOKIE_SECURE_ON_LOOPBACK), so that the demo
  works over http://127.0.0.1;
- `SameSite=Lax` (RFC 6265bis §8.8): other sites' subresource requests and form posts carry neither;
- `Max-Age`: the lifetime of the token inside;
- the access cookie: `Path=/`, so relying parties on the issuer's host read it too (with
  ACCESS_COOKIE_DOMAIN, on sibling hosts);
- the refresh cookie: host-only, `Path=` the refresh endpoint, so that the refresh token goes
  nowhere but where it is rotated (RFC 6265 §5.1.4 matches `/api/login/refresh/` too).

Logout does not need the refresh cookie, and never gets it: no path covers the refresh and logout
endpoints without covering the whole API. It ends the session named by the access cookie's `sid`
instead, which the access token proves, since the issuer refuses an access token of an ended
session; ending the session blacklists every refresh token of it. A client whose access cookie has
expired refreshes first, as before any call.

A cookie is an ambient credential: a browser attaches it to requests that other sites make it
send. Every unsafe request that a cookie authenticates needs Django's CSRF token
(`relying_party.errors.enforce_csrf`); the cookie-mode login answer sets a fresh CSRF cookie for the
client to echo in `X-CSRFToken`. A request with a Bearer header uses no cookie and needs no CSRF token.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import timedelta
from typing import NamedTuple

from django.http import HttpResponse
from django.http.request import split_domain_port
from django.urls import reverse
from rest_framework.request import Request

from idp.conf import idp_settings
from idp.sessions import TokenPair
from relying_party.errors import CsrfFailed, enforce_csrf

# A cleared cookie expires in the past as well as with Max-Age=0, as Django's delete_cookie does,
# for clients that honour only Expires (RFC 6265 §5.2.1).
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


def set_token_cookies(response: HttpResponse, request: Request, pair: TokenPair) -> None:
    """Set `pair` as the access and refresh cookies of `response`, each living as long as its token."""
    _set(response, request, _access_cookie(), pair.access, idp_settings.ACCESS_TOKEN_LIFETIME)
    _set(response, request, _refresh_cookie(), pair.refresh, idp_settings.REFRESH_TOKEN_LIFETIME)
    # Tokens in Set-Cookie: no cache may keep this answer (RFC 6749 §5.1 asks the same of a body).
    response["Cache-Control"] = "no-store"


def clear_token_cookies(response: HttpResponse, request: Request) -> None:
    """Make the browser drop both token cookies: the same name, Path and Domain, expired."""
    for cookie in (_access_cookie(), _refresh_cookie()):
        response.set_cookie(cookie.name, "", max_age=0, expires=_EXPIRED, **_attributes(request, cookie))


def access_token(request: Request) -> str | None:
    """Return the access cookie's token, or None when the request carries none (or an empty one)."""
    return request.COOKIES.get(idp_settings.ACCESS_COOKIE_NAME) or None


def refresh_token(request: Request) -> str | None:
    """Return the refresh cookie's token when the body names no `refresh`, else None.

    The body wins: a client that sends `refresh` is a bearer client and answered as one. Raises
    CsrfFailed when the cookie would be used without a valid CSRF token.
    """
    if not isinstance(request.data, Mapping) or "refresh" in request.data:
        return None
    token = request.COOKIES.get(idp_settings.REFRESH_COOKIE_NAME)
    if not token:
        return None
    enforce_csrf(request)
    return token


def refuse_cross_site_login(request: Request) -> None:
    """Raise CsrfFailed when the browser says another site made it send this cookie-mode login.

    Login CSRF: a form on another site could sign the visitor's browser in to the attacker's
    account, and SameSite does not stop a top-level form post from setting cookies. Browsers
    name the initiator in Fetch Metadata's `Sec-Fetch-Site`. A request without it (curl, a script,
    a browser older than Fetch Metadata) passes: the refusal covers every current browser.
    """
    if request.META.get("HTTP_SEC_FETCH_SITE", "").lower() == "cross-site":
        raise CsrfFailed("Another site cannot log in in cookie mode.")


class _Cookie(NamedTuple):
    """Where one token cookie lives: its name, Path and Domain (None: host-only)."""

    name: str
    path: str
    domain: str | None


def _access_cookie() -> _Cookie:
    return _Cookie(idp_settings.ACCESS_COOKIE_NAME, "/", idp_settings.ACCESS_COOKIE_DOMAIN)


def _refresh_cookie() -> _Cookie:
    return _Cookie(idp_settings.REFRESH_COOKIE_NAME, reverse("refresh"), None)


def _set(response: HttpResponse, request: Request, cookie: _Cookie, value: str, lifetime: timedelta) -> None:
    response.set_cookie(cookie.name, value, max_age=int(lifetime.total_seconds()), **_attributes(request, cookie))


def _attributes(request: Request, cookie: _Cookie) -> dict:
    return {
        "path": cookie.path,
        "domain": cookie.domain,
        "secure": _secure(request),
        "httponly": True,
        "samesite": "Lax",
    }


def _secure(request: Request) -> bool:
    """Whether the token cookies of an answer to `request` are Secure: always, but to loopback in demo mode."""
    if idp_settings.COOKIE_SECURE_ON_LOOPBACK:
        return True
    host, _port = split_domain_port(request.get_host())
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True
