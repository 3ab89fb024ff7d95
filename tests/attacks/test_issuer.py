"""The attack catalogue against the issuer: hostile tokens at /api/me, /api/login/refresh and
/api/logout, and hostile bodies at every route."""
from __future__ import annotations

import pytest
import responses
from rest_framework.test import APIClient

from tests.attacks.catalogue import (
    BODY_CATALOGUE,
    CATALOGUE,
    Attack,
    BodyAttack,
    Route,
    assert_hostile_body_answered,
    routes,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _assert_refused(response, attack: Attack) -> None:
    assert response.status_code == 401, (attack.name, response.status_code, response.content[:300])
    body = response.json()
    assert body["code"] == attack.code, (attack.name, body)
    assert response["WWW-Authenticate"].startswith('Bearer realm="kunci", error="invalid_token"')


def test_the_catalogue_has_at_least_forty_entries():
    assert len(CATALOGUE) >= 40
    assert len({attack.name for attack in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("attack", CATALOGUE, ids=lambda attack: attack.name)
def test_the_issuer_refuses_a_hostile_access_token(forges, attack):
    token = attack.build(forges["access"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as network:
        response = api.get("/api/me")

    _assert_refused(response, attack)
    assert len(network.calls) == 0


REFRESH_ATTACKS = [attack for attack in CATALOGUE if attack.applies_to_refresh]


@pytest.mark.parametrize("attack", REFRESH_ATTACKS, ids=lambda attack: attack.name)
def test_the_issuer_refuses_a_hostile_refresh_token_at_refresh_and_logout(forges, attack):
    token = attack.build(forges["refresh"])
    api = APIClient()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as network:
        refreshed = api.post("/api/login/refresh", {"refresh": token}, format="json")
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {forges['valid']['access']}")
        logged_out = api.post("/api/logout", {"refresh": token}, format="json")

    _assert_refused(refreshed, attack)
    _assert_refused(logged_out, attack)
    assert len(network.calls) == 0


def test_an_access_token_sent_to_the_refresh_endpoint_is_refused(forges):
    response = APIClient().post("/api/login/refresh", {"refresh": forges["valid"]["access"]}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "token_wrong_type"


ISSUER_ROUTES = routes("idp.urls")
# Routes with a body method whose view never reads the body: what is sent there is ignored, not
# parsed, so it cannot fail; they must still answer without a 5xx.
IGNORES_BODY = {"logout-everywhere", "signout"}
# HTML form pages: they read a form, not JSON, and answer a body they cannot use with a 4xx page.
HTML_FORMS = {"signin", "register", "register-resend", "activate", "password-reset", "password-reset-confirm"}
# The OpenID Provider's endpoints read forms (RFC 6749 §3.1, §3.2) and answer in OAuth's own
# error formats (an HTML page, an RFC 6749 §5.2 or RFC 6750 §3 error): a 4xx, never
# Kunci's JSON API shape. RP-Initiated Logout with nothing it can read shows a page (no 4xx).
OAUTH_FORMS = {"authorize", "authorize-consent", "token", "userinfo", "revoke", "introspect"}
IGNORES_BODY |= {"end-session", "end-session-confirm"}
# The account page's forms read a form only from a signed-in browser (anyone else is sent to the
# sign-in page), so the attacks reach them signed in.
SIGNED_IN_BROWSER = {"account", "account-signout", "account-signout-everywhere", "account-password"}
HTML_FORMS |= {"account-signout", "account-password"}
IGNORES_BODY |= {"account", "account-signout-everywhere"}
# The language switcher (Django's set_language) reads only its form's `language` and `next`: a body
# it cannot use changes nothing and redirects; too many form fields are Django's 400.
IGNORES_BODY |= {"set_language"}


def test_the_body_attacks_reach_every_endpoint_that_takes_a_body():
    takes_body = {route.name for route in ISSUER_ROUTES if route.body_methods}
    assert takes_body >= {
        "login", "refresh", "logout", "logout-everywhere", "signin", "signout",
        "api-register", "api-register-resend", "api-password-reset", "api-password-change",
    }


@pytest.mark.parametrize("route", ISSUER_ROUTES, ids=lambda route: route.name)
@pytest.mark.parametrize("attack", BODY_CATALOGUE, ids=lambda attack: attack.name)
def test_the_issuer_refuses_a_hostile_body_at_every_route(keyring, user, attack: BodyAttack, route: Route):
    api = APIClient()
    access = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json").json()["access"]
    # Signed in, so that endpoints behind authentication get as far as reading the body.
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    if route.name in SIGNED_IN_BROWSER:
        assert api.post("/signin", {"username": "alice", "password": PASSWORD}).status_code == 302

    for method in route.body_methods or ("post",):
        response = getattr(api, method)(route.path, attack.body, content_type=attack.content_type)
        if route.name in HTML_FORMS | OAUTH_FORMS:
            assert 400 <= response.status_code < 500, (attack.name, route.name, response.status_code)
            continue
        assert_hostile_body_answered(response, attack, route, ignores_body=route.name in IGNORES_BODY)
