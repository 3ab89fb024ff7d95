"""The demo relying party's URLs: whoami, health, and JSON errors for everything else."""
from __future__ import annotations

import time

import pytest
import requests
from django.test import Client, override_settings

from relying_party.errors import exception_handler, server_error
from tests.relying_party.conftest import answer_jwks, jwks_calls, serve_jwks
from tests.relying_party.issuer import AUDIENCE, ISSUER, JWKS_URL, access_claims, sign

# What settings/rp.py configures, restated so that these tests run under any settings module.
DEMO = {
    "ROOT_URLCONF": "relying_party.urls",
    "REST_FRAMEWORK": {
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "UNAUTHENTICATED_USER": None,
        "EXCEPTION_HANDLER": "relying_party.errors.exception_handler",
        "DEFAULT_AUTHENTICATION_CLASSES": ["relying_party.authentication.JWKSAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    },
    "RELYING_PARTY": {"ISSUER": ISSUER, "JWKS_URL": JWKS_URL, "AUDIENCE": AUDIENCE, "APP_NAME": "app1"},
}


@pytest.fixture
def client(http, key) -> Client:
    serve_jwks(http, key)
    with override_settings(**DEMO):
        yield Client()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/api/whoami", "/api/whoami/"])
def test_whoami_answers_who_the_token_says_the_caller_is(client, key, path):
    response = client.get(path, **bearer(sign(key, access_claims(now=time.time()))))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "app": "app1",
        "sub": "42",
        "username": "alice",
        "email": "alice@example.test",
        "sid": "session-1",
        "kid": key.kid,
    }


def test_whoami_without_a_token_is_401_with_a_bare_challenge(client):
    response = client.get("/api/whoami")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="app1"'
    assert response.json()["code"] == "not_authenticated"


def test_whoami_with_an_expired_token_is_401_token_expired(client, key):
    response = client.get("/api/whoami", **bearer(sign(key, access_claims(now=time.time() - 3600))))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == (
        'Bearer realm="app1", error="invalid_token", error_description="Token is expired"'
    )
    assert response.json() == {"detail": "Token is expired", "code": "token_expired"}


def test_repeated_whoami_calls_fetch_the_jwks_once(client, http, key):
    token = sign(key, access_claims(now=time.time()))
    for _ in range(5):
        assert client.get("/api/whoami", **bearer(token)).status_code == 200
    assert jwks_calls(http) == 1


def test_whoami_answers_503_with_retry_after_when_the_issuer_is_unreachable_at_a_cold_start(http, key):
    answer_jwks(http, body=requests.ConnectionError("connection refused"))
    with override_settings(**DEMO):
        response = Client().get("/api/whoami", **bearer(sign(key, access_claims(now=time.time()))))

    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert response.json()["code"] == "jwks_unavailable"


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer garbage"}])
def test_health_answers_without_looking_at_any_token(client, http, headers):
    response = client.get("/api/health", **headers)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "app": "app1"}
    assert jwks_calls(http) == 0


def test_an_unknown_path_is_a_json_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_wrong_method_is_a_json_405(client, key):
    response = client.post("/api/whoami", **bearer(sign(key, access_claims(now=time.time()))))
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.', "code": "method_not_allowed"}


def test_an_unexpected_error_in_a_view_is_a_json_500(caplog):
    response = exception_handler(RuntimeError("bug"), {"view": None})
    assert response.status_code == 500
    assert response.data == {"detail": "Internal server error.", "code": "server_error"}


def test_the_500_handler_answers_json():
    response = server_error(None)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
