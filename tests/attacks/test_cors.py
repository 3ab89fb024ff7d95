"""The attack catalogue's CORS entries: preflights from origins that are not registered, at every
issuer route, get no Access-Control-Allow-Origin, never credentials, and never a 5xx."""
from __future__ import annotations

import pytest
from django.test import Client as BrowserlessClient

from idp.cors import PathClass, path_class
from idp.oauth.models import Client
from tests.attacks.catalogue import routes

pytestmark = pytest.mark.django_db

CLIENT_ORIGIN = "https://spa.example.com"
API_ORIGIN = "https://front.example.com"

# Each is what a hostile page could present, or a lookalike of a registered origin.
HOSTILE_ORIGINS = [
    "https://evil.example",
    "null",  # a sandboxed frame or a file: page
    "https://spa.example.com.evil.example",  # the registered host as a prefix
    "https://evilspa.example.com",  # … as a suffix
    "https://evil.example/https://spa.example.com",  # … as a path
    "http://spa.example.com",  # another scheme
    "https://spa.example.com:8443",  # another port
    "https://SPA.example.com",  # not as browsers send it
    "https://spa.example.com/",  # a trailing slash
    "https://user@spa.example.com",  # userinfo
    "*",
    "https://spa.example.com https://evil.example",  # a list of origins
    "https://front.example.com.evil.example",
    "https://" + "a" * 5000 + ".example",
]

# The OAuth endpoints by path: they answer CORS from the moment their views exist.
OAUTH_PATHS = ["/token", "/userinfo", "/revoke", "/introspect"]


def cors_paths() -> list[str]:
    """Every issuer route that answers cross-origin requests from an allow-list (not `*`)."""
    paths = {route.path for route in routes("idp.urls")} | set(OAUTH_PATHS)
    return sorted(path for path in paths if path_class(path) in (PathClass.OAUTH, PathClass.API))


@pytest.fixture(autouse=True)
def _registered(settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CORS_ORIGINS": [API_ORIGIN]}
    Client.objects.create(name="SPA", redirect_uris=[f"{CLIENT_ORIGIN}/callback"], token_endpoint_auth_method="none")


def test_the_cors_catalogue_covers_the_oauth_endpoints_and_the_json_api():
    paths = cors_paths()

    assert set(OAUTH_PATHS) <= set(paths)
    assert "/api/me" in paths and "/api/login" in paths


@pytest.mark.parametrize("origin", HOSTILE_ORIGINS)
def test_a_preflight_from_an_unregistered_origin_gets_no_access_control_allow_origin(origin):
    accepted, errors = [], []
    for path in cors_paths():
        for method in ("GET", "POST"):
            response = BrowserlessClient().options(
                path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                               "Access-Control-Request-Headers": "authorization"},
            )
            if response.status_code >= 500:
                errors.append((path, response.status_code))
            if "Access-Control-Allow-Origin" in response or "Access-Control-Allow-Credentials" in response:
                accepted.append((path, method, response.get("Access-Control-Allow-Origin")))

    assert accepted == []
    assert errors == []


@pytest.mark.parametrize("origin", [CLIENT_ORIGIN, API_ORIGIN])
def test_a_registered_origin_is_answered_only_where_it_is_registered(origin):
    for path in cors_paths():
        response = BrowserlessClient().options(path, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        expected = (path_class(path) is PathClass.OAUTH) == (origin == CLIENT_ORIGIN)
        assert ("Access-Control-Allow-Origin" in response) is expected, (path, origin)
        assert "Access-Control-Allow-Credentials" not in response
