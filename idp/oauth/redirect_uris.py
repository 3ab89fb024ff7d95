"""Which URIs a client may register as redirect targets, and how a requested one is matched.

Django-free on purpose: the rules are pure functions of the URI (and of whether plain http is
allowed, which the caller decides), so they are tested as a table. The same rules apply to
`redirect_uris`, `post_logout_redirect_uris` and `backchannel_logout_uri`: each is a URL that
Kunci sends a browser (or a logout token) to, so each must be unambiguous and, in production,
protected by TLS.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

# RFC 3986 §2: a URI is ASCII made of unreserved and reserved characters and percent-escapes.
# Anything else (spaces, controls, non-ASCII, '<', '"', '\') makes the URI ambiguous to parsers.
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
MAX_LENGTH = 2000


class InvalidRedirectURI(Exception):
    """A URI that may not be registered; the message says why, for the operator."""


def validate_redirect_uri(uri: object, *, allow_http: bool) -> None:
    """Raise InvalidRedirectURI unless `uri` may be registered; `allow_http` permits plain http anywhere (demo mode)."""
    if not isinstance(uri, str) or not uri:
        raise InvalidRedirectURI("must be a non-empty string")
    if len(uri) > MAX_LENGTH:
        raise InvalidRedirectURI(f"must be at most {MAX_LENGTH} characters")
    if not _URI_CHARACTERS.fullmatch(uri):
        raise InvalidRedirectURI("contains characters a URI may not hold (RFC 3986 §2): percent-encode them")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (parsing the port is what raises on a malformed one)
    except ValueError as error:
        raise InvalidRedirectURI(f"is not a valid URI: {error}") from error
    # RFC 6749 §3.1.2: "The redirection endpoint URI MUST be an absolute URI as defined by
    # [RFC3986] Section 4.3."
    if not parts.scheme:
        raise InvalidRedirectURI("must be an absolute URI with a scheme (RFC 6749 §3.1.2)")
    # RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component." An empty
    # fragment ("…#") counts: urlsplit drops it, so look at the string itself.
    if "#" in uri:
        raise InvalidRedirectURI("must not contain a fragment (RFC 6749 §3.1.2)")
    if parts.scheme not in ("https", "http"):
        # RFC 8252 §7.1 private-use schemes need the native-app rules (claimed schemes, PKCE-only
        # public clients); Kunci registers web clients only.
        raise InvalidRedirectURI(
            f"uses the scheme {parts.scheme!r}: custom URI schemes for native apps (RFC 8252 §7.1) are not "
            "supported; register an https URI, or an http loopback URI such as http://127.0.0.1:PORT/callback"
        )
    if not parts.hostname:
        raise InvalidRedirectURI("must name a host (RFC 3986 §3.2.2)")
    # RFC 3986 §7.6: userinfo lets "https://trusted.example@evil.example/" read as the trusted
    # host to a person while the browser goes to the other; RFC 3986 §3.2.1 deprecates it.
    if "@" in parts.netloc:
        raise InvalidRedirectURI("must not contain userinfo ('user@host'), RFC 3986 §3.2.1 and §7.6")
    if parts.scheme == "http" and not allow_http and not is_loopback_ip_literal(parts):
        # RFC 6749 §3.1.2.1: the code (and, for logout, the session) travels to this URI, so
        # it needs TLS. RFC 8252 §7.3: loopback IP literals are the exception (the traffic never
        # leaves the machine). RFC 8252 §8.3: "localhost" is NOT RECOMMENDED (a name may resolve
        # off the machine or be firewalled), so only the literals qualify.
        hint = " (use http://127.0.0.1 or http://[::1] rather than localhost, RFC 8252 §8.3)" if (
            parts.hostname == "localhost"
        ) else ""
        raise InvalidRedirectURI(
            "must use https, except for the loopback addresses 127.0.0.0/8 and [::1] (RFC 8252 §7.3)" + hint
        )


def is_loopback_ip_literal(parts: SplitResult) -> bool:
    """Return whether the URI's host is an IP literal in 127.0.0.0/8 or ::1 (RFC 8252 §7.3), never a name."""
    try:
        address = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        return False
    if address.version == 4:
        return address in ipaddress.ip_network("127.0.0.0/8")
    # An IPv6 literal must be bracketed in a URI (RFC 3986 §3.2.2); urlsplit removes the brackets.
    return address == ipaddress.IPv6Address("::1") and f"[{parts.hostname}]" in parts.netloc


def matches_registered(candidate: object, registered: Iterable[str]) -> bool:
    """Return whether `candidate` equals one of the `registered` URIs exactly, character for character."""
    # RFC 6749 §3.1.2.3 (simple string comparison, RFC 3986 §6.2.1) and RFC 9700 §2.1 and
    # §4.1.3: exact matching, no normalisation of case, ports, slashes or query. RFC 8252 §7.3's
    # "any port" for loopback URIs serves native apps, which Kunci does not register, so a
    # loopback client registers the exact port it listens on.
    if not isinstance(candidate, str):
        return False
    return any(candidate == uri for uri in registered)
