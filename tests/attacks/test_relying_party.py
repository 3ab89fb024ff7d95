"""The attack catalogue against a relying party, with the issuer's real JWKS: hostile tokens at its
protected endpoint, and hostile bodies at every route."""
from __future__ import annotations

import pytest
import responses
from django.apps import apps
from django.conf import settings
from django.test import modify_settings, override_settings
from django.urls import resolve
from rest_framework.test import APIClient, APIRequestFactory

from keys import keyring as keys_api
from relying_party.views import WhoAmIView
from tests.attacks.catalogue import (
    BODY_CATALOGUE,
    CATALOGUE,
    Attack,
    BodyAttack,
    Route,
    assert_hostile_body_answered,
    routes,
)

pytestmark = pytest.mark.django_db

JWKS_URL = "https://issuer.test/.well-known/jwks.json"


@pytest.fixture
def relying_party(forges):
    """Configure a relying party of the issuer under test; its JWKS is the keyring's, as published."""
    access = forges["access"]
    config = {"ISSUER": access.issuer, "AUDIENCE": access.audience, "JWKS_URL": JWKS_URL, "APP_NAME": "app1"}
    with override_settings(RELYING_PARTY=config), responses.RequestsMock(assert_all_requests_are_fired=False) as network:
        network.get(JWKS_URL, json=keys_api.jwks(), headers={"Cache-Control": "public, max-age=300"})
        yield network


def _whoami(token: str):
    request = APIRequestFactory().get("/api/whoami", HTTP_AUTHORIZATION=f"Bearer {token}")
    return WhoAmIView.as_view()(request)


def test_the_relying_party_accepts_the_valid_token_the_attacks_start_from(forges, relying_party):
    response = _whoami(forges["valid"]["access"])

    assert response.status_code == 200
    assert response.data["kid"] == forges["access"].kid


@pytest.mark.parametrize("attack", CATALOGUE, ids=lambda attack: attack.name)
def test_the_relying_party_refuses_a_hostile_access_token(forges, relying_party, attack: Attack):
    token = attack.build(forges["access"])

    response = _whoami(token)
    response.render()

    assert response.status_code == 401, (attack.name, response.status_code, response.content[:300])
    assert response.data["code"] == attack.code, (attack.name, response.data)
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert [call.request.url for call in relying_party.calls] in ([], [JWKS_URL]), "only the configured JWKS is fetched"


# Today the demo relying party has no route that takes a body (whoami and health are GET only):
# each hostile body must still answer without a 5xx, and a route added with a body method is
# held to the catalogue's statuses automatically.
RELYING_PARTY_ROUTES = routes("relying_party.urls")


@pytest.mark.parametrize("route", RELYING_PARTY_ROUTES, ids=lambda route: route.name)
@pytest.mark.parametrize("attack", BODY_CATALOGUE, ids=lambda attack: attack.name)
def test_the_relying_party_refuses_a_hostile_body_at_every_route(forges, relying_party, attack: BodyAttack, route: Route):
    # The relying party's own stack: its URLconf and error handlers, without the issuer's middleware.
    middleware = [name for name in settings.MIDDLEWARE if not name.startswith("idp.")]
    client = APIClient()  # sends the bytes as they are, whatever the charset says
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forges['valid']['access']}")
    # The browser sign-in pages (relying_party.web) are HTML forms whose only field is the CSRF
    # token: they read no body, answer HTML, and are held to "no 5xx".
    browser_page = resolve(route.path, urlconf="relying_party.urls").func.__module__ == "relying_party.web"
    # Its templates are found through INSTALLED_APPS, as in settings/rp.py.
    installed = [] if apps.is_installed("relying_party") else ["relying_party"]
    with override_settings(ROOT_URLCONF="relying_party.urls", MIDDLEWARE=middleware), modify_settings(
        INSTALLED_APPS={"append": installed}
    ):
        for method in route.body_methods or ("post",):
            response = getattr(client, method)(route.path, attack.body, content_type=attack.content_type)
            assert_hostile_body_answered(response, attack, route, ignores_body=browser_page)
