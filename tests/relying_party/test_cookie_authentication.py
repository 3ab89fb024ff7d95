"""JWKSAuthentication with ACCESS_COOKIE_NAME: the issuer's access cookie, under the same CSRF rule as the issuer.

Through Django's test client with CSRF enforced and the whole middleware stack, since the CSRF
cookie is set by Django's CSRF middleware.
"""
from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient

from relying_party.checks import check_relying_party_settings
from tests.relying_party.conftest import serve_jwks
from tests.relying_party.issuer import access_claims, sign
from tests.relying_party.test_authentication import RELYING_PARTY
from tests.relying_party.test_authentication import ProtectedView as ReadOnlyView

COOKIE = "kunci_access"


class ProtectedView(ReadOnlyView):
    def post(self, request: Any) -> Response:
        return Response({"user": request.user.pk, "changed": True})


urlpatterns = [path("protected", ProtectedView.as_view())]
pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def rp(http, key):
    serve_jwks(http, key)
    with override_settings(RELYING_PARTY={**RELYING_PARTY, "ACCESS_COOKIE_NAME": COOKIE}):
        yield


@pytest.fixture
def browser() -> APIClient:
    return APIClient(enforce_csrf_checks=True)


def token(key, **overrides: Any) -> str:
    # The default verifier runs on the real clock.
    return sign(key, access_claims(now=time.time(), **overrides))


def csrf_header(client: APIClient) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": client.cookies[settings.CSRF_COOKIE_NAME].value}


def test_the_access_cookie_is_accepted_only_once_access_cookie_name_names_it(http, key, browser):
    serve_jwks(http, key)
    browser.cookies[COOKIE] = token(key)

    with override_settings(RELYING_PARTY=RELYING_PARTY):
        by_default = browser.get("/protected")
    with override_settings(RELYING_PARTY={**RELYING_PARTY, "ACCESS_COOKIE_NAME": COOKIE}):
        named = browser.get("/protected")

    assert by_default.status_code == 401
    assert by_default.json()["code"] == "not_authenticated"
    assert by_default["WWW-Authenticate"] == 'Bearer realm="app-test"'
    assert named.status_code == 200


def test_a_valid_access_cookie_authenticates_a_safe_request_and_its_answer_carries_the_csrf_cookie(rp, key, browser):
    browser.cookies[COOKIE] = token(key)

    response = browser.get("/protected")

    assert response.status_code == 200
    assert response.json()["user"] == "42"
    assert response.cookies[settings.CSRF_COOKIE_NAME].value


def test_an_unsafe_request_authenticated_by_the_cookie_needs_the_csrf_header(rp, key, browser):
    browser.cookies[COOKIE] = token(key)
    browser.get("/protected")

    refused = browser.post("/protected")
    accepted = browser.post("/protected", **csrf_header(browser))

    assert refused.status_code == 403
    assert refused.json() == {"detail": "CSRF check failed: CSRF token missing.", "code": "csrf_failed"}
    assert accepted.status_code == 200
    assert accepted.json() == {"user": "42", "changed": True}


def test_a_bearer_header_wins_over_the_cookie_and_needs_no_csrf_token(rp, key, browser):
    browser.cookies[COOKIE] = token(key)
    cookie_user = browser.get("/protected").json()["user"]

    response = browser.post("/protected", HTTP_AUTHORIZATION=f"Bearer {token(key, sub='7')}")

    assert (cookie_user, response.status_code, response.json()["user"]) == ("42", 200, "7")


@pytest.mark.parametrize(
    "forged",
    [
        {"HTTP_X_CSRFTOKEN": "A" * 32},
        {"HTTP_X_CSRFTOKEN": "<script>" * 4},
        {"HTTP_ORIGIN": "https://evil.example"},
    ],
    ids=["a wrong CSRF token", "a malformed CSRF token", "another site's Origin"],
)
def test_a_forged_unsafe_request_riding_on_the_cookie_is_refused(rp, key, browser, forged):
    browser.cookies[COOKIE] = token(key)
    browser.get("/protected")

    response = browser.post("/protected", **{**csrf_header(browser), **forged})

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_the_csrf_header_without_the_csrf_cookie_is_refused(rp, key, browser):
    browser.cookies[COOKIE] = token(key)
    browser.get("/protected")
    header = csrf_header(browser)
    del browser.cookies[settings.CSRF_COOKIE_NAME]

    response = browser.post("/protected", **header)

    assert response.status_code == 403
    assert response.json() == {"detail": "CSRF check failed: CSRF cookie not set.", "code": "csrf_failed"}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (lambda key: "garbage", "token_malformed"),
        (lambda key: "x" * 9000, "token_too_large"),
        (lambda key: token(key, exp=int(time.time()) - 60), "token_expired"),
        (lambda key: token(key, aud="another-audience"), "wrong_audience"),
    ],
    ids=["malformed", "oversize", "expired", "another audience"],
)
def test_a_bad_access_cookie_gets_401_with_the_usual_code(rp, key, browser, value, code):
    browser.cookies[COOKIE] = value(key)

    response = browser.get("/protected")

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"].startswith('Bearer realm="app-test", error="invalid_token"')


def _cookie_check_ids() -> list[str]:
    # The access cookie's own checks; these settings are an issuer's, where others report too.
    return [m.id for m in check_relying_party_settings() if m.id in ("relying_party.E006", "relying_party.E007")]


@pytest.mark.parametrize("name", ["", "kunci access", "kunci;access", 42])
def test_an_access_cookie_name_that_is_no_cookie_name_is_a_check_error(name):
    with override_settings(RELYING_PARTY={**RELYING_PARTY, "ACCESS_COOKIE_NAME": name}):
        assert _cookie_check_ids() == ["relying_party.E006"]


def test_the_access_cookie_without_the_csrf_middleware_is_a_check_error():
    without = [name for name in settings.MIDDLEWARE if not name.endswith("CsrfViewMiddleware")]
    with override_settings(RELYING_PARTY={**RELYING_PARTY, "ACCESS_COOKIE_NAME": COOKIE}, MIDDLEWARE=without):
        assert _cookie_check_ids() == ["relying_party.E007"]
    with override_settings(RELYING_PARTY={**RELYING_PARTY, "ACCESS_COOKIE_NAME": COOKIE}):
        assert _cookie_check_ids() == []
