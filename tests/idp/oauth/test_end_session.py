"""RP-Initiated Logout 1.0 (the RP-Initiated Logout OP test plan's oidcc-rp-initiated-logout modules)."""
from __future__ import annotations

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client as BrowserClient
from django.utils import timezone

from idp.models import LoginSession, SessionEnd
from tests.idp.oauth.conftest import exchange, get_code, register

BYE = "https://rp.example/bye"


def _id_token(browser, rp, api) -> str:
    return exchange(api, rp, get_code(browser, rp)).json()["id_token"]


def test_oidcc_rp_initiated_logout_ends_the_session_and_returns_state(browser, rp, api):
    id_token = _id_token(browser, rp, api)

    response = browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "s1"})

    assert response.status_code == 302
    assert response["Location"] == f"{BYE}?state=s1"
    session = LoginSession.objects.get()
    assert session.ended_at is not None and session.end_reason == SessionEnd.RP_LOGOUT


def test_rp_initiated_logout_by_post(browser, rp, api):
    id_token = _id_token(browser, rp, api)

    response = browser.post("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE})

    assert response["Location"] == BYE
    assert LoginSession.objects.get().ended_at is not None


def test_an_expired_id_token_hint_of_ours_is_accepted(browser, rp, api, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCESS_TOKEN_LIFETIME": timezone.timedelta(seconds=-60)}
    id_token = _id_token(browser, rp, api)

    response = browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE})

    assert response["Location"] == BYE


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri_is_not_followed(browser, rp, api):
    id_token = _id_token(browser, rp, api)

    for uri in ("https://evil.example/", BYE + "/", BYE + "?x=1"):
        response = browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": uri})
        assert response.status_code == 400 and "Location" not in response
    assert LoginSession.objects.get().ended_at is None


def test_an_id_token_hint_from_another_issuer_is_refused(browser, rp):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode({"iss": "https://evil.example", "sub": "1", "aud": rp.client_id}, key, algorithm="RS256",
                         headers={"kid": "evil", "typ": "JWT"})

    response = browser.get("/logout", {"id_token_hint": foreign, "post_logout_redirect_uri": BYE})

    assert response.status_code == 400 and "Location" not in response
    assert LoginSession.objects.get().ended_at is None


def test_oidcc_rp_initiated_logout_no_id_token_hint_asks_to_confirm(browser, rp):
    page = browser.get("/logout", {"client_id": rp.client_id, "post_logout_redirect_uri": BYE, "state": "s2"})

    assert page.status_code == 200
    assert LoginSession.objects.get().ended_at is None
    confirmed = browser.post("/logout/confirm", {"client_id": rp.client_id, "post_logout_redirect_uri": BYE, "state": "s2"})
    assert confirmed["Location"] == f"{BYE}?state=s2"
    assert LoginSession.objects.get().end_reason == SessionEnd.RP_LOGOUT


def test_the_confirmation_is_csrf_protected(user, rp):
    browser = BrowserClient(enforce_csrf_checks=True)

    assert browser.post("/logout/confirm", {"client_id": rp.client_id}).status_code == 403


def test_a_hint_whose_client_id_disagrees_is_refused(browser, rp, api):
    other = register("Other RP")
    id_token = _id_token(browser, rp, api)

    response = browser.get("/logout", {"id_token_hint": id_token, "client_id": other.client_id})

    assert response.status_code == 400
