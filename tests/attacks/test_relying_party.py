"""The attack catalogue against a relying party, with the issuer's real JWKS: hostile tokens at its
protected endpoint, and hostile bodies at every route."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from django.apps import apps
from django.conf import settings
from django.test import Client, modify_settings, override_settings
from django.urls import resolve
from rest_framework.test import APIClient, APIRequestFactory

from keys import keyring as keys_api
from relying_party.state import build_revocation_store, default_revocations
from relying_party.verifier import BACKCHANNEL_LOGOUT_EVENT
from relying_party.views import WhoAmIView
from tests.attacks.catalogue import (
    BODY_CATALOGUE,
    CATALOGUE,
    Attack,
    BodyAttack,
    Forge,
    Route,
    assert_hostile_body_answered,
    b64json,
    routes,
)

pytestmark = pytest.mark.django_db

JWKS_URL = "https://issuer.test/.well-known/jwks.json"
CLIENT_ID = "app1-client"


@pytest.fixture
def relying_party(forges):
    """Configure a relying party of the issuer under test; its JWKS is the keyring's, as published."""
    access = forges["access"]
    config = {
        "ISSUER": access.issuer, "AUDIENCE": access.audience, "JWKS_URL": JWKS_URL, "APP_NAME": "app1",
        # Back-channel logout on, over a store that needs no tables under the issuer's test settings.
        "CLIENT_ID": CLIENT_ID, "REVOCATION_STORE": "cache",
    }
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


# Every route must answer each hostile body without a 5xx, and a route added with a body method is
# held to the catalogue's statuses automatically. The back-channel logout endpoint answers in
# RFC 6749 §5.2's format instead (Back-Channel Logout 1.0 §2.8): 400 (405 for other methods).
RELYING_PARTY_ROUTES = routes("relying_party.urls")
OAUTH_FORMS = {"backchannel-logout"}


@pytest.mark.parametrize("route", RELYING_PARTY_ROUTES, ids=lambda route: route.name)
@pytest.mark.parametrize("attack", BODY_CATALOGUE, ids=lambda attack: attack.name)
def test_the_relying_party_refuses_a_hostile_body_at_every_route(forges, relying_party, attack: BodyAttack, route: Route):
    # The relying party's own stack: its URLconf and error handlers, without the issuer's middleware.
    middleware = [name for name in settings.MIDDLEWARE if not name.startswith("idp.")]
    client = APIClient()  # sends the bytes as they are, whatever the charset says
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forges['valid']['access']}")
    # The browser sign-in pages (relying_party.web) are HTML forms whose only field is the CSRF
    # token, and the language switcher's form reads only `language` and `next`: they ignore any other
    # body, answer HTML or a redirect, and are held to "no 5xx".
    view_module = resolve(route.path, urlconf="relying_party.urls").func.__module__
    browser_page = view_module == "relying_party.web" or route.name == "set_language"
    # Its templates are found through INSTALLED_APPS, as in settings/rp.py.
    installed = [] if apps.is_installed("relying_party") else ["relying_party"]
    with override_settings(ROOT_URLCONF="relying_party.urls", MIDDLEWARE=middleware), modify_settings(
        INSTALLED_APPS={"append": installed}
    ):
        for method in route.body_methods or ("post",):
            response = getattr(client, method)(route.path, attack.body, content_type=attack.content_type)
            if route.name in OAUTH_FORMS:
                assert response.status_code == (400 if method == "post" else 405), (attack.name, response.content[:200])
                assert set(response.json()) == {"error", "error_description"}
                continue
            assert_hostile_body_answered(response, attack, route, ignores_body=browser_page)


# --- Hostile logout tokens at the back-channel logout endpoint ---------------------------------------

LOGOUT_TYP = "logout+jwt"


def _logout(forge: Forge, **changes: Any) -> dict[str, Any]:
    """The claims of a logout token for the session of the forge's valid access token; None deletes one."""
    claims = {
        "iss": forge.issuer, "aud": CLIENT_ID, "iat": int(time.time()), "exp": int(time.time()) + 120,
        "jti": uuid.uuid4().hex, "events": {BACKCHANNEL_LOGOUT_EVENT: {}}, "sid": forge.claims()["sid"],
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


@dataclass(frozen=True)
class LogoutAttack:
    name: str
    build: Callable[[Forge], str]


LOGOUT_CATALOGUE = [
    LogoutAttack("signed by a forged key under the issuer's kid", lambda f: f.sign(_logout(f), key=f.attacker_key, typ=LOGOUT_TYP)),
    LogoutAttack("signed by the attacker's own key and kid", lambda f: f.sign(_logout(f), key=f.attacker_key, kid="attacker", typ=LOGOUT_TYP)),
    LogoutAttack("alg none", lambda f: f"{b64json({'alg': 'none', 'typ': LOGOUT_TYP})}.{b64json(_logout(f))}."),
    LogoutAttack("a missing events member", lambda f: f.sign(_logout(f, events=None), typ=LOGOUT_TYP)),
    LogoutAttack("events without the back-channel logout event", lambda f: f.sign(_logout(f, events={"urn:other": {}}), typ=LOGOUT_TYP)),
    LogoutAttack("a nonce present", lambda f: f.sign(_logout(f, nonce="n-0S6_WzA2Mj"), typ=LOGOUT_TYP)),
    LogoutAttack("the wrong aud", lambda f: f.sign(_logout(f, aud="another-client"), typ=LOGOUT_TYP)),
    LogoutAttack("the access tokens' aud", lambda f: f.sign(_logout(f, aud=f.audience), typ=LOGOUT_TYP)),
    LogoutAttack("the wrong iss", lambda f: f.sign(_logout(f, iss="https://evil.example"), typ=LOGOUT_TYP)),
    LogoutAttack("neither sid nor sub", lambda f: f.sign(_logout(f, sid=None), typ=LOGOUT_TYP)),
    LogoutAttack("expired", lambda f: f.sign(_logout(f, exp=int(time.time()) - 600), typ=LOGOUT_TYP)),
    LogoutAttack("typed as an id_token", lambda f: f.sign(_logout(f), typ="JWT")),
    LogoutAttack("untyped", lambda f: f.sign(_logout(f), typ=None)),
    LogoutAttack("an access token", lambda f: f.access),
    LogoutAttack("a refresh token", lambda f: f.refresh),
    LogoutAttack("access claims typed logout+jwt", lambda f: f.sign(f.claims(aud=CLIENT_ID), typ=LOGOUT_TYP)),
]


@pytest.fixture
def backchannel(relying_party):
    """The relying party's own stack, without the issuer's middleware; yields a function that POSTs a body."""
    middleware = [name for name in settings.MIDDLEWARE if not name.startswith("idp.")]
    with override_settings(ROOT_URLCONF="relying_party.urls", MIDDLEWARE=middleware):
        client = Client()

        def post(body: Any, content_type: str = "application/x-www-form-urlencoded") -> Any:
            if isinstance(body, dict):
                body = urlencode(body)
            return client.post("/backchannel-logout", body, content_type=content_type)

        yield post


def _assert_refused_and_nothing_ended(response: Any, forges: dict[str, Any], name: str) -> None:
    assert response.status_code == 400, (name, response.status_code, response.content[:300])
    assert response["Cache-Control"] == "no-store"
    assert response.json()["error"] == "invalid_request"
    assert len(default_revocations()) == 0, name
    assert _whoami(forges["valid"]["access"]).status_code == 200, name


@pytest.mark.parametrize("attack", LOGOUT_CATALOGUE, ids=lambda attack: attack.name)
def test_the_relying_party_refuses_a_hostile_logout_token(forges, backchannel, attack: LogoutAttack):
    response = backchannel({"logout_token": attack.build(forges["access"])})

    _assert_refused_and_nothing_ended(response, forges, attack.name)


def test_the_logout_token_the_attacks_start_from_is_taken(forges, backchannel):
    assert backchannel({"logout_token": forges["access"].sign(_logout(forges["access"]), typ=LOGOUT_TYP)}).status_code == 200

    response = _whoami(forges["valid"]["access"])
    assert response.status_code == 401
    assert response.data["code"] == "session_ended"


def test_a_replayed_logout_token_is_refused_and_recorded_once(forges, backchannel):
    token = forges["access"].sign(_logout(forges["access"], sid="another-session"), typ=LOGOUT_TYP)
    assert backchannel({"logout_token": token}).status_code == 200

    response = backchannel({"logout_token": token})

    assert response.status_code == 400
    assert response.json()["error_description"] == "This logout token was already used"
    assert len(default_revocations()) == 1
    assert len(build_revocation_store().changes()) == 1


def test_a_valid_logout_token_in_a_huge_body_is_refused(forges, backchannel):
    token = forges["access"].sign(_logout(forges["access"]), typ=LOGOUT_TYP)

    response = backchannel({"logout_token": token, "padding": "x" * 100_000})

    _assert_refused_and_nothing_ended(response, forges, "huge body")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data; boundary=b"])
def test_a_valid_logout_token_under_a_wrong_content_type_is_refused(forges, backchannel, content_type):
    token = forges["access"].sign(_logout(forges["access"]), typ=LOGOUT_TYP)
    body = json.dumps({"logout_token": token}) if content_type == "application/json" else f"logout_token={token}"

    response = backchannel(body, content_type)

    _assert_refused_and_nothing_ended(response, forges, content_type)


def test_a_logout_token_presented_as_a_bearer_access_token_is_401(forges, relying_party):
    token = forges["access"].sign(_logout(forges["access"], aud=forges["access"].audience, sub="1"), typ=LOGOUT_TYP)

    response = _whoami(token)
    response.render()

    assert response.status_code == 401
    assert response.data["code"] == "token_wrong_type"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
