"""Browser-style CORS over real HTTP: the preflight a browser sends before a cross-origin call, and the call."""
from __future__ import annotations

import json

import pytest
import requests

from tests.e2e.conftest import PASSWORD
from tests.e2e.servers import start_issuer

FRONTEND = "http://127.0.0.1:5173"
SPA = "http://127.0.0.1:5174"


@pytest.fixture(scope="module")
def cors_issuer(deployment):
    # Two workers: a client registered by another process counts in every one.
    server = start_issuer(deployment, workers=2, KUNCI_CORS_ORIGINS=FRONTEND)
    deployment.manage(
        "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    yield server
    server.stop()


def preflight(url: str, origin: str, method: str, headers: str = "") -> requests.Response:
    """Send the OPTIONS request a browser sends before a cross-origin `method` with custom `headers`."""
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return requests.options(url, headers=request_headers, timeout=10)


def test_a_browser_preflight_to_the_jwks_from_any_origin_is_allowed(cors_issuer):
    answer = preflight(f"{cors_issuer.url}/.well-known/jwks.json", SPA, "GET")
    document = requests.get(f"{cors_issuer.url}/.well-known/jwks.json", headers={"Origin": SPA}, timeout=10)

    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in answer.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in answer.headers
    assert document.status_code == 200
    assert document.headers["Access-Control-Allow-Origin"] == "*"
    assert document.json()["keys"]


def test_a_browser_preflight_to_api_me_from_a_listed_origin_is_allowed_and_the_call_is_readable(cors_issuer):
    login = requests.post(
        f"{cors_issuer.url}/api/login", json={"username": "admin", "password": PASSWORD},
        headers={"Origin": FRONTEND}, timeout=10,
    )
    assert login.status_code == 200, login.text
    assert login.headers["Access-Control-Allow-Origin"] == FRONTEND

    answer = preflight(f"{cors_issuer.url}/api/me", FRONTEND, "GET", "authorization")
    me = requests.get(
        f"{cors_issuer.url}/api/me",
        headers={"Origin": FRONTEND, "Authorization": f"Bearer {login.json()['access']}"}, timeout=10,
    )

    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert "authorization" in answer.headers["Access-Control-Allow-Headers"].split(", ")
    assert "Access-Control-Allow-Credentials" not in answer.headers
    assert "origin" in answer.headers["Vary"].lower()
    assert me.status_code == 200
    assert me.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert me.json()["username"] == "admin"


def test_a_preflight_to_api_me_from_an_unlisted_origin_gets_no_allow_origin(cors_issuer):
    answer = preflight(f"{cors_issuer.url}/api/me", "https://evil.example", "GET", "authorization")

    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Credentials" not in answer.headers


def test_a_client_registered_by_another_process_is_allowed_at_the_token_endpoint_at_once(cors_issuer, deployment):
    assert "Access-Control-Allow-Origin" not in preflight(f"{cors_issuer.url}/token", SPA, "POST").headers

    added = deployment.manage("clients", "add", "Single-page app", "--redirect-uri", f"{SPA}/callback", "--public", "--json")
    client_id = json.loads(added.stdout)["client_id"]

    # Every worker answers it: the registry is read per request, not cached per process.
    for _ in range(4):
        answer = preflight(f"{cors_issuer.url}/token", SPA, "POST", "content-type")
        assert answer.headers.get("Access-Control-Allow-Origin") == SPA

    deployment.manage("clients", "remove", client_id)

    for _ in range(4):
        assert "Access-Control-Allow-Origin" not in preflight(f"{cors_issuer.url}/token", SPA, "POST").headers
