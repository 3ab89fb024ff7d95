"""Cross-origin reads of the issuer (CORS): which origins may read which paths.

django-cors-headers carries the mechanics: it answers preflights before any view runs, adds
`Vary: Origin`, and writes the `Access-Control-*` headers. Its settings name one list of origins
for a whole site, while Kunci's rule depends on the path, so the policy lives here:

- discovery and the JWKS are public documents: every origin may read them (`*`);
- the OAuth endpoints answer the web origins of the registered clients, the scheme://host[:port]
  of each redirect URI (what Keycloak calls "web origins"), read from the client table per request;
- the JSON API answers the origins the operator lists in KUNCI_CORS_ORIGINS;
- every other path (the pages, the admin) sends no CORS header at all.

No answer ever allows credentials (the Fetch standard's CORS "credentials mode"): a cross-origin
script sends bearer tokens or client credentials explicitly, while the issuer's cookies (its
session, cookie mode's tokens) serve scripts of its own origin only. Allowing credentials would let
every allowed origin act with the cookies of whoever visits it.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from corsheaders.middleware import ACCESS_CONTROL_ALLOW_ORIGIN
from corsheaders.middleware import CorsMiddleware as LibraryCorsMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from idp.conf import idp_settings

_DEFAULT_PORTS = {"http": 80, "https": 443}
# A DNS name (IDNs as A-labels) or an IP literal, as a serialized origin holds it.
_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")


class PathClass(enum.Enum):
    """The kinds of path that answer cross-origin requests, each with its own origins."""

    PUBLIC = "public"
    OAUTH = "oauth"
    API = "api"


# Each issuer path answers with and without a trailing slash (idp/urls.py). The OAuth endpoints
# are listed by path so that they answer CORS from the moment their views exist.
_PATH_CLASSES: tuple[tuple[re.Pattern[str], PathClass], ...] = (
    (re.compile(r"/\.well-known/(?:openid-configuration|jwks\.json)/?"), PathClass.PUBLIC),
    (re.compile(r"/(?:token|userinfo|revoke|introspect)/?"), PathClass.OAUTH),
    (re.compile(r"/api(?:/.*)?"), PathClass.API),
)


def path_class(path: str) -> PathClass | None:
    """Return the class of `path` (a request's path_info), or None for a path that answers no CORS."""
    for pattern, kind in _PATH_CLASSES:
        if pattern.fullmatch(path):
            return kind
    return None


def serialize_origin(url: str) -> str | None:
    """Return the origin of an http(s) `url` serialized as browsers send it, or None if it has none.

    RFC 6454 §6.2: the scheme and host in lower case, and the port only when it is not the
    scheme's default; browsers send exactly this in `Origin` (RFC 6454 §7), so origins are then
    compared as strings.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower-cased, brackets of an IPv6 literal removed
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc or not _HOST.fullmatch(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_problem(value: object) -> str | None:
    """Return why `value` cannot be an entry of KUNCI_CORS_ORIGINS, or None when it is one."""
    if value == "*":
        return "'*' would let every site call the API; list the origins of your front-ends instead"
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    origin = serialize_origin(value)
    if origin is None:
        return "must be an http(s) origin, scheme://host[:port], without user information"
    parts = urlsplit(value)
    if parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        return "must be an origin, scheme://host[:port], with no path, query or fragment (not even '/')"
    if origin != value:
        # Browsers send the serialized form, so any other spelling would never match.
        return f"must be written as browsers send it in Origin: {origin!r} (RFC 6454 §6.2)"
    return None


def web_origins(redirect_uris: Iterable[str]) -> set[str]:
    """Return the origins of `redirect_uris`, the pages a client's browser code runs on."""
    return {origin for uri in redirect_uris if (origin := serialize_origin(uri)) is not None}


def is_client_web_origin(origin: str) -> bool:
    """Return whether `origin` is the origin of a redirect URI of a registered client, per the client table now.

    Read per request, never cached: a client registered or removed by any process (`manage.py
    clients`, the admin) counts from the next request. The database keeps only the clients whose
    redirect URIs contain the origin, ignoring case (a default port written out still contains
    it), and those few are compared exactly; only requests to the OAuth endpoints that carry an
    Origin pay (0.4 ms with 20 clients, 1 ms with 2,000, on SQLite on a busy machine). A port written
    with leading zeros in a redirect URI is not recognised.
    """
    from idp.oauth.models import Client

    if serialize_origin(origin) != origin:
        return False  # not an origin as browsers send it: "null", a path, another spelling
    candidates = Client.objects.filter(redirect_uris__icontains=origin).values_list("redirect_uris", flat=True)
    return any(origin in web_origins(redirect_uris) for redirect_uris in candidates)


def allowed_origin(path: str, origin: str | None) -> bool:
    """Return whether a script running at `origin` may read the answer to a request for `path`."""
    kind = path_class(path)
    if kind is None or not origin:
        return False
    if kind is PathClass.PUBLIC:
        return True
    # "null" (an opaque origin: a sandboxed frame, a file: page) is never listed.
    if kind is PathClass.OAUTH:
        return is_client_web_origin(origin)
    # Only the valid entries count; the system check (idp.E010) names the others.
    listed = idp_settings.CORS_ORIGINS
    return not isinstance(listed, str) and origin in listed and origin_problem(origin) is None


class CorsMiddleware(LibraryCorsMiddleware):
    """django-cors-headers' middleware under Kunci's per-path policy (`allowed_origin`).

    The library's site-wide origin lists are not consulted. Its settings still give the allowed
    methods and headers, the exposed headers and the preflight max-age (settings/idp.py), and
    idp/checks.py keeps CORS_ALLOW_ALL_ORIGINS and CORS_ALLOW_CREDENTIALS off.
    """

    def is_enabled(self, request: HttpRequest) -> bool:
        # Only the paths that answer cross-origin requests get `Vary: Origin` and preflight answers.
        return path_class(request.path_info) is not None

    def origin_found_in_white_lists(self, origin: str, url: object) -> bool:
        return False

    def check_signal(self, request: HttpRequest) -> bool:
        return allowed_origin(request.path_info, request.headers.get("origin"))

    def add_response_headers(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response = super().add_response_headers(request, response)
        if ACCESS_CONTROL_ALLOW_ORIGIN in response and path_class(request.path_info) is PathClass.PUBLIC:
            # The Fetch standard's CORS protocol ("HTTP responses"): `*` shares the answer with
            # every origin, for requests without credentials; the public documents are the same
            # for everyone, so no origin is echoed.
            response[ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
        return response
