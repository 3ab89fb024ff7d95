"""Cross-origin reads (idp/cors.py): the public documents answer every origin, the OAuth endpoints
their clients' web origins, the JSON API KUNCI_CORS_ORIGINS, and nothing ever allows credentials."""
from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import Client as BrowserlessClient

from idp.checks import check_cors_never_opens_everything, check_cors_origins
from idp.cors import PathClass, allowed_origin, path_class, serialize_origin
from idp.oauth.models import Client
from tests.conftest import PASSWORD
from tests.settings.test_production import _manage

pytestmark = pytest.mark.django_db

SPA = "https://spa.example.com"
FRONTEND = "http://127.0.0.1:5173"
EVIL = "https://evil.example"

PUBLIC_PATHS = ["/.well-known/openid-configuration", "/.well-known/jwks.json", "/.well-known/jwks.json/"]
OAUTH_PATHS = ["/token", "/userinfo", "/revoke", "/introspect", "/token/"]
API_PATHS = ["/api/me", "/api/login", "/api/login/refresh", "/api/users/"]
ALL_PATHS = PUBLIC_PATHS + OAUTH_PATHS + API_PATHS

PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "authorization, content-type",
    "Access-Control-Max-Age": "600",
}
EXPOSED = "WWW-Authenticate, Retry-After"


@pytest.fixture(autouse=True)
def _origins(settings, keyring):
    """Register a single-page app as a public client and list one front-end for the JSON API."""
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CORS_ORIGINS": [FRONTEND]}
    register("SPA", f"{SPA}/callback")


def register(name: str, *redirect_uris: str) -> Client:
    client = Client(name=name, redirect_uris=list(redirect_uris), token_endpoint_auth_method="none")
    client.full_clean()
    client.save()
    return client


def preflight(path: str, origin: str, method: str = "POST"):
    return BrowserlessClient().options(
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": method,
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )


def get(path: str, origin: str | None, **headers: str):
    if origin:
        headers["Origin"] = origin
    return BrowserlessClient().get(path, headers=headers)


def cors_headers(response) -> dict[str, str]:
    return {name.title(): value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


def vary(response) -> set[str]:
    return {value.strip().lower() for value in response.get("Vary", "").split(",") if value.strip()}


def allowed_for(path: str) -> str:
    kind = path_class(path)
    return {PathClass.PUBLIC: EVIL, PathClass.OAUTH: SPA, PathClass.API: FRONTEND}[kind]


# The policy, as a table.


@pytest.mark.parametrize(
    ("path", "origin", "allowed"),
    [
        *[(path, origin, True) for path in PUBLIC_PATHS for origin in (SPA, FRONTEND, EVIL, "null")],
        *[(path, SPA, True) for path in OAUTH_PATHS],
        *[(path, origin, False) for path in OAUTH_PATHS for origin in (FRONTEND, EVIL, "null")],
        *[(path, FRONTEND, True) for path in API_PATHS],
        *[(path, origin, False) for path in API_PATHS for origin in (SPA, EVIL, "null")],
        # Every other path answers no origin.
        *[(path, origin, False) for path in ("/authorize", "/admin/", "/healthz", "/", "/tokens", "/apis")
          for origin in (SPA, FRONTEND)],
        # Origins are compared as browsers send them: another spelling, a path or a port is another origin.
        ("/token", "https://SPA.example.com", False),
        ("/token", f"{SPA}/", False),
        ("/token", f"{SPA}:443", False),
        ("/token", "https://spa.example.com:8443", False),
        ("/token", "http://spa.example.com", False),
        ("/token", "https://spa.example.com.evil.example", False),
        ("/token", "https://evil.example/https://spa.example.com", False),
        ("/api/me", f"{FRONTEND}/", False),
        ("/api/me", "http://127.0.0.1:51730", False),
        ("/token", "", False),
        ("/token", None, False),
    ],
)
def test_allowed_origin_follows_the_class_of_the_path(path, origin, allowed):
    assert allowed_origin(path, origin) is allowed


def test_the_web_origin_of_a_redirect_uri_is_serialized_as_browsers_send_origin():
    # RFC 6454 §6.2: lower-case scheme and host, no default port.
    assert serialize_origin("HTTPS://App.Example.COM:443/callback?x=1") == "https://app.example.com"
    assert serialize_origin("http://127.0.0.1:8082/callback") == "http://127.0.0.1:8082"
    assert serialize_origin("http://[::1]:80/cb") == "http://[::1]"
    assert serialize_origin("https://user@app.example.com/") is None
    assert serialize_origin("myapp://callback") is None


def test_a_redirect_uri_with_the_default_port_written_out_allows_the_origin_browsers_send():
    register("Explicit port", "https://Ported.example.com:443/cb")

    assert allowed_origin("/token", "https://ported.example.com")


# Simple requests (the actual GET or POST).


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_the_public_documents_answer_every_origin_with_a_star(path):
    response = get(path, EVIL)

    assert response.status_code == 200
    assert cors_headers(response) == {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED}
    assert "origin" in vary(response)


def test_a_jwks_revalidation_answers_304_with_the_star_too():
    etag = get("/.well-known/jwks.json", None)["ETag"]

    response = get("/.well-known/jwks.json", SPA, **{"If-None-Match": etag})

    assert response.status_code == 304
    assert response["Access-Control-Allow-Origin"] == "*"


def test_a_request_without_origin_gets_no_cors_header_but_vary():
    response = get("/.well-known/jwks.json", None)

    assert cors_headers(response) == {}
    assert "origin" in vary(response)


def test_the_json_api_answers_a_listed_origin_with_that_origin(user):
    login = BrowserlessClient().post(
        "/api/login", {"username": "alice", "password": PASSWORD},
        content_type="application/json", headers={"Origin": FRONTEND},
    )
    assert login.status_code == 200
    assert cors_headers(login) == {"Access-Control-Allow-Origin": FRONTEND, "Access-Control-Expose-Headers": EXPOSED}

    me = get("/api/me", FRONTEND, Authorization=f"Bearer {login.json()['access']}")

    assert me.status_code == 200
    assert cors_headers(me) == {"Access-Control-Allow-Origin": FRONTEND, "Access-Control-Expose-Headers": EXPOSED}
    assert "origin" in vary(me)


def test_a_refused_api_call_from_a_listed_origin_stays_readable_with_its_challenge():
    response = get("/api/me", FRONTEND)

    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    assert "WWW-Authenticate" in response["Access-Control-Expose-Headers"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("origin", [SPA, EVIL, "null"])
def test_the_json_api_answers_an_unlisted_origin_without_cors_headers(origin):
    response = get("/api/me", origin)

    assert response.status_code == 401
    assert cors_headers(response) == {}
    assert "origin" in vary(response)


@pytest.mark.parametrize("path", OAUTH_PATHS)
def test_an_oauth_endpoint_answers_a_client_web_origin_even_before_its_view_exists(path):
    allowed = get(path, SPA)
    refused = get(path, EVIL)

    assert allowed["Access-Control-Allow-Origin"] == SPA
    assert "Access-Control-Allow-Origin" not in refused
    assert "origin" in vary(allowed) and "origin" in vary(refused)


def test_the_pages_and_the_admin_send_no_cors_header_and_no_vary_origin():
    for path in ("/admin/login/", "/healthz"):
        response = get(path, SPA)
        assert cors_headers(response) == {}, path
        assert "origin" not in vary(response), path


# Preflights (OPTIONS with Access-Control-Request-Method), answered before any view runs.


@pytest.mark.parametrize("path", ALL_PATHS)
def test_a_preflight_from_an_allowed_origin_gets_exact_headers(path):
    origin = allowed_for(path)

    response = preflight(path, origin)

    assert response.status_code == 200
    assert response.content == b""
    expected_origin = "*" if path_class(path) is PathClass.PUBLIC else origin
    assert cors_headers(response) == {
        "Access-Control-Allow-Origin": expected_origin,
        "Access-Control-Expose-Headers": EXPOSED,
        **PREFLIGHT_HEADERS,
    }
    assert "origin" in vary(response)


@pytest.mark.parametrize("path", OAUTH_PATHS + API_PATHS)
@pytest.mark.parametrize("origin", [EVIL, "null", "https://spa.example.com.evil.example"])
def test_a_preflight_from_an_unregistered_origin_gets_no_access_control_allow_origin(path, origin):
    response = preflight(path, origin)

    assert "Access-Control-Allow-Origin" not in response
    assert cors_headers(response) == {}
    assert "origin" in vary(response)


def test_an_options_request_without_a_preflight_header_reaches_the_view():
    response = BrowserlessClient().options("/api/me", headers={"Origin": FRONTEND})

    # DRF answers it (401: /api/me needs a token), with the CORS headers of a listed origin.
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == FRONTEND


# Credentials are never allowed.


@pytest.mark.parametrize("path", ALL_PATHS + ["/authorize", "/admin/login/"])
@pytest.mark.parametrize("origin", [SPA, FRONTEND, EVIL, "null"])
def test_no_answer_ever_allows_credentials(path, origin):
    for response in (get(path, origin), preflight(path, origin, "GET")):
        assert "Access-Control-Allow-Credentials" not in response
        # Whatever is echoed was allowed for that path: never an arbitrary origin.
        echoed = response.get("Access-Control-Allow-Origin")
        assert echoed in (None, "*") or allowed_origin(path, echoed), (path, origin, echoed)


# The client registry is read per request.


def test_a_client_registered_at_runtime_is_allowed_and_a_removed_one_is_not():
    origin = "https://later.example.com"
    assert "Access-Control-Allow-Origin" not in preflight("/token", origin)

    client = register("Later", f"{origin}/callback", "http://127.0.0.1:9100/callback")
    assert preflight("/token", origin)["Access-Control-Allow-Origin"] == origin
    assert preflight("/userinfo", "http://127.0.0.1:9100")["Access-Control-Allow-Origin"] == "http://127.0.0.1:9100"

    client.redirect_uris = ["http://127.0.0.1:9100/callback"]
    client.save()
    assert "Access-Control-Allow-Origin" not in preflight("/token", origin)

    client.delete()
    assert "Access-Control-Allow-Origin" not in preflight("/userinfo", "http://127.0.0.1:9100")


def test_an_origin_that_is_a_prefix_of_a_registered_one_is_not_allowed():
    register("Ported", "http://127.0.0.1:9100/cb")

    assert not allowed_origin("/token", "http://127.0.0.1:91")
    assert not allowed_origin("/token", "http://127.0.0.1")
    assert allowed_origin("/token", "http://127.0.0.1:9100")


def test_kunci_cors_origins_is_read_at_call_time(settings):
    other = "https://other.example.com"
    assert "Access-Control-Allow-Origin" not in preflight("/api/me", other)

    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CORS_ORIGINS": [FRONTEND, other]}

    assert preflight("/api/me", other)["Access-Control-Allow-Origin"] == other


# The system checks.


def test_valid_kunci_cors_origins_pass_the_check(settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CORS_ORIGINS": [FRONTEND, SPA, "http://[::1]:3000"]}

    assert check_cors_origins(None) == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("*", "'*' would let every site"),
        ("https://app.example.com/", "no path"),
        ("https://app.example.com/spa", "no path"),
        ("https://app.example.com?x=1", "no path"),
        ("https://App.example.com", "'https://app.example.com'"),
        ("https://app.example.com:443", "'https://app.example.com'"),
        ("app.example.com", "http(s) origin"),
        ("ftp://app.example.com", "http(s) origin"),
        ("https://user@app.example.com", "http(s) origin"),
        ("null", "http(s) origin"),
    ],
)
def test_an_invalid_kunci_cors_origin_fails_the_check_and_is_never_allowed(settings, value, reason):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CORS_ORIGINS": [FRONTEND, value]}

    errors = check_cors_origins(None)

    assert [error.id for error in errors] == ["idp.E010"]
    assert value in errors[0].msg and reason in errors[0].msg
    assert not allowed_origin("/api/me", value)
    assert any(error.id == "idp.E010" for error in run_checks(include_deployment_checks=False))


def test_a_string_instead_of_a_list_fails_the_check(settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CORS_ORIGINS": FRONTEND}

    assert [error.id for error in check_cors_origins(None)] == ["idp.E010"]
    assert not allowed_origin("/api/me", FRONTEND)


@pytest.mark.parametrize("name", ["CORS_ALLOW_ALL_ORIGINS", "CORS_ALLOW_CREDENTIALS"])
def test_the_check_refuses_opening_cors_to_everyone_or_to_credentials(settings, name):
    assert check_cors_never_opens_everything(None) == []

    setattr(settings, name, True)

    assert [error.id for error in check_cors_never_opens_everything(None)] == ["idp.E011"]


def test_manage_check_reads_kunci_cors_origins_from_the_environment_and_refuses_a_star(tmp_path):
    valid = _manage(tmp_path, "check", KUNCI_DEMO="1", KUNCI_CORS_ORIGINS=f" {FRONTEND}, {SPA} ,")
    star = _manage(tmp_path, "check", KUNCI_DEMO="1", KUNCI_CORS_ORIGINS=f"{FRONTEND},*")

    assert valid.returncode == 0, valid.stderr
    assert star.returncode != 0
    assert "idp.E010" in star.stderr and "'*'" in star.stderr
