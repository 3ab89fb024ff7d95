"""The attack catalogue's cookie-mode entries: forged requests that ride on the token cookies.

A browser signed in in cookie mode attaches its cookies to requests other sites make it send.
Each entry is such a request, or a client's own request missing its CSRF proof, at every unsafe
endpoint the cookies authenticate. Each is refused 403 `csrf_failed` before anything happens: the
session stays open, no refresh token is rotated or blacklisted, and no cookie is set.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.urls import resolve
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from idp.authentication import AccessCookieAuthentication
from idp.models import LoginSession
from tests.attacks.catalogue import routes
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

CSRF = "kunci_csrftoken"


@dataclass(frozen=True)
class CsrfAttack:
    name: str
    # Given the victim's client, return the extra request arguments the attack sends.
    prepare: Callable[[APIClient], dict]


def _token(client: APIClient) -> str:
    return client.cookies[CSRF].value


def _without_the_cookie(client: APIClient) -> dict:
    token = _token(client)
    del client.cookies[CSRF]
    return {"HTTP_X_CSRFTOKEN": token}


def _another_clients_token(client: APIClient) -> dict:
    other = APIClient(enforce_csrf_checks=True)
    _cookie_login(other)
    return {"HTTP_X_CSRFTOKEN": _token(other)}


CSRF_ATTACKS = [
    CsrfAttack("no CSRF header (a form on another site)", lambda client: {}),
    CsrfAttack("a wrong CSRF token", lambda client: {"HTTP_X_CSRFTOKEN": "A" * 32}),
    CsrfAttack("a CSRF token of the wrong length", lambda client: {"HTTP_X_CSRFTOKEN": _token(client)[:-1]}),
    CsrfAttack("a CSRF token with characters outside its alphabet", lambda client: {"HTTP_X_CSRFTOKEN": "<script>" * 4}),
    CsrfAttack("the CSRF header but no CSRF cookie", _without_the_cookie),
    CsrfAttack("another client's CSRF token", _another_clients_token),
    CsrfAttack(
        "the right CSRF token from another site's Origin",
        lambda client: {"HTTP_X_CSRFTOKEN": _token(client), "HTTP_ORIGIN": "https://evil.example"},
    ),
    CsrfAttack(
        "the right CSRF token over HTTPS with another site's Referer",
        lambda client: {"HTTP_X_CSRFTOKEN": _token(client), "HTTP_REFERER": "https://evil.example/", "secure": True},
    ),
    CsrfAttack(
        "the right CSRF token over HTTPS with neither Origin nor Referer",
        lambda client: {"HTTP_X_CSRFTOKEN": _token(client), "secure": True},
    ),
]

# The unsafe endpoints that the token cookies authenticate.
COOKIE_ROUTES = ["/api/login/refresh", "/api/logout", "/api/logout/all", "/api/password/change"]


def _cookie_login(client: APIClient, username: str = "alice") -> None:
    response = client.post("/api/login", {"username": username, "password": PASSWORD, "cookie": True}, format="json")
    assert response.status_code == 200, response.content


def test_the_catalogue_forges_every_unsafe_request_the_cookies_authenticate():
    def authenticated_by_the_access_cookie(path: str) -> bool:
        view = getattr(resolve(path).func, "view_class", None)
        return AccessCookieAuthentication in getattr(view, "authentication_classes", ())

    by_access_cookie = {
        route.path for route in routes("idp.urls") if route.body_methods and authenticated_by_the_access_cookie(route.path)
    }

    # The refresh endpoint reads the refresh cookie itself.
    assert by_access_cookie | {"/api/login/refresh"} == set(COOKIE_ROUTES)
    assert len({attack.name for attack in CSRF_ATTACKS}) == len(CSRF_ATTACKS) >= 8


@pytest.mark.parametrize("route", COOKIE_ROUTES)
@pytest.mark.parametrize("attack", CSRF_ATTACKS, ids=lambda attack: attack.name)
def test_a_cookie_request_without_valid_csrf_proof_is_refused_and_changes_nothing(keyring, user, attack, route):
    victim = APIClient(enforce_csrf_checks=True)
    _cookie_login(victim)
    forged = attack.prepare(victim)
    open_sessions = LoginSession.objects.filter(ended_at__isnull=True).count()
    blacklisted = BlacklistedToken.objects.count()

    response = victim.post(route, **forged)

    assert response.status_code == 403, (attack.name, route, response.status_code, response.content[:300])
    body = response.json()
    assert body["code"] == "csrf_failed" and body["detail"].startswith("CSRF check failed: "), body
    assert set(body) == {"detail", "code"}
    assert LoginSession.objects.filter(ended_at__isnull=True).count() == open_sessions
    assert BlacklistedToken.objects.count() == blacklisted
    assert not {"kunci_access", "kunci_refresh"} & set(response.cookies)


def test_a_cookie_mode_login_that_another_site_made_the_browser_send_is_refused(keyring, user):
    # Login CSRF: the attacker's form posts their own credentials, to sign the visitor in as them.
    response = APIClient(enforce_csrf_checks=True).post(
        "/api/login",
        urlencode({"username": "alice", "password": PASSWORD, "cookie": "true"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_SEC_FETCH_SITE="cross-site",
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "Another site cannot log in in cookie mode.", "code": "csrf_failed"}
    assert not LoginSession.objects.exists()
    assert not response.cookies


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none"])
def test_a_cookie_mode_login_from_this_site_or_typed_by_the_user_is_accepted(keyring, user, site):
    response = APIClient(enforce_csrf_checks=True).post(
        "/api/login", {"username": "alice", "password": PASSWORD, "cookie": True}, format="json", HTTP_SEC_FETCH_SITE=site,
    )

    assert response.status_code == 200
    assert "kunci_access" in response.cookies
