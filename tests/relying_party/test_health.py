"""The relying party's probes: /healthz (alive) and /readyz (holds the issuer's keys)."""
from __future__ import annotations

import pytest
import requests
from django.test import Client, override_settings

from tests.relying_party.conftest import answer_jwks, jwks_calls, serve_jwks
from tests.relying_party.test_views import DEMO


@pytest.fixture
def demo():
    with override_settings(**DEMO):
        yield Client()


@pytest.mark.parametrize("path", ["/healthz", "/healthz/", "/api/health"])
def test_healthz_answers_200_json_and_fetches_nothing(demo, http, path):
    answer_jwks(http, body=requests.ConnectionError("connection refused"))

    response = demo.get(path, HTTP_ACCEPT="text/plain")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {"status": "ok", "app": "app1"}
    assert jwks_calls(http) == 0


@pytest.mark.parametrize("path", ["/readyz", "/readyz/"])
def test_readyz_fetches_the_keys_of_a_cold_relying_party_and_answers_200(demo, http, key, path):
    serve_jwks(http, key)

    response = demo.get(path)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {"status": "ready", "app": "app1", "checks": {"jwks": "ok"}}
    assert jwks_calls(http) == 1


def test_readyz_answers_from_the_keys_held_without_fetching_again(demo, http, key):
    serve_jwks(http, key)
    demo.get("/readyz")
    answer_jwks(http, body=requests.ConnectionError("connection refused"))

    response = demo.get("/readyz")

    assert response.status_code == 200
    assert jwks_calls(http) == 1


def test_readyz_answers_503_with_retry_after_while_no_keys_are_held(demo, http):
    answer_jwks(http, body=requests.ConnectionError("connection refused"))

    response = demo.get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"] == {"jwks": "unavailable"}
    assert body["detail"]


def test_readyz_needs_no_authentication(demo, http, key):
    serve_jwks(http, key)

    assert demo.get("/readyz", HTTP_AUTHORIZATION="Bearer garbage").status_code == 200
