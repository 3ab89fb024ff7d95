"""Which redirect URIs may be registered, and exact matching of requested ones."""
from __future__ import annotations

import pytest

from idp.oauth.redirect_uris import InvalidRedirectURI, matches_registered, validate_redirect_uri

ACCEPTED_IN_PRODUCTION = [
    "https://app.example.com/callback",
    "https://app.example.com:8443/oidc/callback?tenant=a",  # a query is allowed (RFC 6749 §3.1.2)
    "https://app.example.com/callback/",
    "https://xn--bcher-kva.example/cb",
    "https://app.example.com/cb%20x",
    # RFC 8252 §7.3: loopback IP literals over http, any port.
    "http://127.0.0.1:8082/oidc/callback",
    "http://127.0.0.1/cb",
    "http://127.8.9.10:65535/cb",
    "http://[::1]:61023/cb",
]

# (uri, a fragment of the message that explains the refusal)
REFUSED_EVERYWHERE = [
    ("", "non-empty"),
    ("/callback", "absolute"),
    ("app.example.com/callback", "absolute"),
    ("https://app.example.com/cb#", "fragment"),  # RFC 6749 §3.1.2, even an empty one
    ("https://app.example.com/cb#frag", "fragment"),
    ("https://user@app.example.com/cb", "userinfo"),
    ("https://user:pw@app.example.com/cb", "userinfo"),
    ("https://app.example.com@evil.example/cb", "userinfo"),
    ("http://localhost:80@evil.example/cb", "userinfo"),  # the authlib < 1.8 loopback bypass shape
    ("com.example.app:/oauth2redirect", "custom URI schemes"),  # RFC 8252 §7.1, out of scope
    ("myapp://callback", "custom URI schemes"),
    ("javascript:alert(1)", "custom URI schemes"),
    ("data:text/html,<script>alert(1)</script>", "characters"),
    ("ftp://files.example.com/cb", "custom URI schemes"),
    ("https:///callback", "host"),
    ("https://app.example.com:99999/cb", "not a valid URI"),
    ("https://app.example.com:port/cb", "not a valid URI"),
    ("https://[::1/cb", "not a valid URI"),
    ("https://app.example.com/call back", "characters"),
    ("https://app.example.com/cb\n", "characters"),
    ("https://app.example.com/<script>", "characters"),
    ("https://bücher.example/cb", "characters"),
    ("https://app.example.com/" + "a" * 2000, "at most"),
]

# Plain http to anything but a loopback IP literal: refused outside demo mode, allowed in it.
HTTP_NON_LOOPBACK = [
    "http://app.example.com/callback",
    "http://localhost:8082/callback",  # RFC 8252 §8.3: a name, not a loopback literal
    "http://127.1/cb",  # not a dotted-quad literal: a host name
    "http://[::ffff:127.0.0.1]/cb",  # an IPv4-mapped address is not [::1]
    "http://10.0.0.1/cb",
    "http://0.0.0.0:8000/cb",
]


@pytest.mark.parametrize("uri", ACCEPTED_IN_PRODUCTION)
def test_https_and_loopback_literals_are_accepted_outside_demo_mode(uri):
    validate_redirect_uri(uri, allow_http=False)


@pytest.mark.parametrize(("uri", "reason"), REFUSED_EVERYWHERE)
@pytest.mark.parametrize("allow_http", [False, True], ids=["production", "demo"])
def test_malformed_and_dangerous_uris_are_refused_with_the_reason(uri, reason, allow_http):
    with pytest.raises(InvalidRedirectURI, match=reason):
        validate_redirect_uri(uri, allow_http=allow_http)


@pytest.mark.parametrize("uri", HTTP_NON_LOOPBACK)
def test_plain_http_off_loopback_is_refused_outside_demo_mode(uri):
    with pytest.raises(InvalidRedirectURI, match="must use https"):
        validate_redirect_uri(uri, allow_http=False)


@pytest.mark.parametrize("uri", HTTP_NON_LOOPBACK)
def test_plain_http_is_accepted_in_demo_mode(uri):
    validate_redirect_uri(uri, allow_http=True)


def test_localhost_is_refused_with_a_pointer_to_the_loopback_literals():
    with pytest.raises(InvalidRedirectURI, match=r"127\.0\.0\.1.*rather than localhost.*RFC 8252 §8\.3"):
        validate_redirect_uri("http://localhost/cb", allow_http=False)


@pytest.mark.parametrize("value", [None, 42, ["https://app.example.com/cb"]])
def test_a_value_that_is_not_a_string_is_refused(value):
    with pytest.raises(InvalidRedirectURI, match="string"):
        validate_redirect_uri(value, allow_http=True)


REGISTERED = ["https://app.example.com/callback", "http://127.0.0.1:8082/cb?x=1"]

# The attack shapes of redirect URI manipulation (RFC 9700 §4.1): each differs from a registered
# URI in a way that lax matching would forgive.
NOT_MATCHING = [
    "https://app.example.com/callback/",  # a trailing slash added
    "https://app.example.com/callback?next=https://evil.example",  # an extra query string
    "https://app.example.com/callback?",  # an empty query
    "http://127.0.0.1:8082/cb?x=1&x=2",  # an extra parameter on a registered query
    "http://127.0.0.1:8082/cb",  # the registered query dropped
    "https://app.example.com:443/callback",  # the default port spelled out
    "https://app.example.com:8443/callback",  # another port
    "http://127.0.0.1:9999/cb?x=1",  # another loopback port: exact, not RFC 8252's native-app rule
    "http://app.example.com/callback",  # another scheme
    "https://user@app.example.com/callback",  # userinfo
    "https://app.example.com@evil.example/callback",
    "https://APP.example.com/callback",  # case changes
    "HTTPS://app.example.com/callback",
    "https://app.example.com/Callback",
    "https://app.example.com/callback#",  # fragments
    "https://app.example.com/callback#x",
    "https://app.example.com/callback/../callback",  # dot segments
    "https://app.example.com/%63allback",  # percent-encoding of an unreserved character
    "https://app.example.com.evil.example/callback",  # a suffix on the host
    "https://app.example.com/callbackx",  # a prefix match
    " https://app.example.com/callback",  # whitespace
    "https://app.example.com/callback ",
    "",
]


@pytest.mark.parametrize("candidate", REGISTERED)
def test_a_registered_uri_matches_itself(candidate):
    assert matches_registered(candidate, REGISTERED)


@pytest.mark.parametrize("candidate", NOT_MATCHING)
def test_anything_but_the_exact_registered_string_does_not_match(candidate):
    assert not matches_registered(candidate, REGISTERED)


@pytest.mark.parametrize("candidate", [None, b"https://app.example.com/callback", ["https://app.example.com/callback"]])
def test_a_candidate_that_is_not_a_string_does_not_match(candidate):
    assert not matches_registered(candidate, REGISTERED)
