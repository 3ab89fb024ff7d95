"""The token endpoint, named after the Basic OP test modules it implements (and the attack catalogue's code attacks)."""
from __future__ import annotations

import base64

import jwt
import pytest

from idp.models import Grant, SessionEnd
from tests.idp.oauth.conftest import VERIFIER, exchange, form_post, get_code, later, register

ISSUER = "http://127.0.0.1:8000"


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_oidcc_server_code_exchange_returns_signed_tokens(browser, rp, api):
    response = exchange(api, rp, get_code(browser, rp))

    assert response.status_code == 200, response.content
    # RFC 6749 §5.1.
    assert response["Cache-Control"] == "no-store" and response["Pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["scope"] == "openid profile email"
    id_token = jwt.decode(body["id_token"], options={"verify_signature": False})
    header = jwt.get_unverified_header(body["id_token"])
    # oidcc-idtoken-signature: RS256 with a kid; never alg none (oidcc-idtoken-unsigned).
    assert header["alg"] == "RS256" and header["kid"]
    assert id_token["iss"] == ISSUER and id_token["aud"] == rp.client_id and id_token["azp"] == rp.client_id
    assert id_token["nonce"] == "n-0S6_WzA2Mj" and id_token["sid"] == browser.session["kunci_sid"]
    assert {"exp", "iat", "auth_time", "at_hash", "sub"} <= id_token.keys()
    access_header = jwt.get_unverified_header(body["access_token"])
    assert access_header["typ"] == "at+jwt"
    access = _claims(body["access_token"])
    assert access["client_id"] == rp.client_id and access["scope"] == "openid profile email"


def test_oidcc_server_test_client_secret_post(browser, post_rp, api):
    response = exchange(api, post_rp, get_code(browser, post_rp))

    assert response.status_code == 200, response.content


def test_oidcc_ensure_request_with_valid_pkce_succeeds_for_a_public_client(browser, public_rp, api):
    response = exchange(api, public_rp, get_code(browser, public_rp))

    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"


def test_oidcc_codereuse_refuses_the_second_redemption_and_ends_the_grant(browser, rp, api):
    code = get_code(browser, rp)
    first = exchange(api, rp, code).json()

    second = exchange(api, rp, code)

    assert second.status_code == 400
    assert second.json() == {"error": "invalid_grant", "error_description": "The authorization code has already been used"}
    grant = Grant.objects.get(client=rp.client)
    # Committed on its own, not rolled back with the refused request.
    assert grant.ended_at is not None and grant.end_reason == SessionEnd.CODE_REPLAY
    # Its access token stops working at /userinfo, and its refresh token at /token.
    assert api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}").status_code == 401
    refreshed = form_post(api, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                          HTTP_AUTHORIZATION=rp.basic())
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_oidcc_codereuse_30seconds_is_refused_even_after_the_code_expired(browser, rp, api):
    code = get_code(browser, rp)
    exchange(api, rp, code)

    with later(90):  # 30 s past the code's 60
        second = exchange(api, rp, code)

    assert second.json()["error"] == "invalid_grant"
    assert Grant.objects.get(client=rp.client).end_reason == SessionEnd.CODE_REPLAY


def test_an_expired_code_is_invalid_grant(browser, rp, api):
    code = get_code(browser, rp)

    with later(60):
        response = exchange(api, rp, code)

    assert response.json() == {"error": "invalid_grant", "error_description": "The authorization code has expired"}


def test_a_code_redeemed_by_another_client_is_invalid_grant(browser, rp, api):
    other = register("Other RP")
    code = get_code(browser, rp)

    response = exchange(api, other, code)

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert exchange(api, rp, code).status_code == 200  # the refusal did not use the code up


def test_a_code_redeemed_with_another_redirect_uri_is_invalid_grant(browser, rp, api):
    code = get_code(browser, rp)

    assert exchange(api, rp, code, redirect_uri="https://rp.example/other").json()["error"] == "invalid_grant"


@pytest.mark.parametrize("verifier, error", [
    (None, "invalid_request"), ("x" * 43, "invalid_grant"), ("short", "invalid_request"),
], ids=["verifier-missing", "verifier-wrong", "verifier-malformed"])
def test_pkce_verifier_missing_or_wrong_is_refused(browser, rp, api, verifier, error):
    code = get_code(browser, rp)

    assert exchange(api, rp, code, verifier=verifier).json()["error"] == error


def test_a_verifier_for_a_code_without_challenge_is_refused(browser, rp, api):
    # RFC 9700 §4.8.2: the PKCE downgrade.
    code = get_code(browser, rp, code_challenge=None, code_challenge_method=None)

    assert exchange(api, rp, code, verifier=VERIFIER).json()["error"] == "invalid_request"


def test_a_wrong_secret_is_invalid_client_401_with_a_basic_challenge(browser, rp, api):
    code = get_code(browser, rp)
    wrong = "Basic " + base64.b64encode(f"{rp.client_id}:wrong".encode()).decode()

    response = form_post(api, "/token", {"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": rp.client.redirect_uris[0], "code_verifier": VERIFIER},
                         HTTP_AUTHORIZATION=wrong)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic ")


def test_a_client_secret_in_the_query_string_is_invalid_client(browser, post_rp, api):
    code = get_code(browser, post_rp)

    response = api.post(
        f"/token?client_secret={post_rp.secret}",
        f"grant_type=authorization_code&code={code}&redirect_uri={post_rp.client.redirect_uris[0]}"
        f"&code_verifier={VERIFIER}&client_id={post_rp.client_id}",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" not in response


def test_a_confidential_client_cannot_pose_as_public(browser, rp, api):
    code = get_code(browser, rp)

    response = form_post(api, "/token", {"grant_type": "authorization_code", "code": code, "client_id": rp.client_id,
                                         "redirect_uri": rp.client.redirect_uris[0], "code_verifier": VERIFIER})

    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("grant_type, error", [
    ("password", "unsupported_grant_type"), ("client_credentials", "unsupported_grant_type"), ("", "invalid_request"),
])
def test_other_grant_types_are_refused(rp, api, grant_type, error):
    response = form_post(api, "/token", {"grant_type": grant_type}, HTTP_AUTHORIZATION=rp.basic())

    assert response.status_code == 400 and response.json()["error"] == error


def test_get_is_not_allowed(api):
    assert api.get("/token").status_code == 405


def test_oidcc_refresh_token_rotates_and_refuses_reuse(browser, rp, api, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "REFRESH_REUSE_GRACE": 0}
    first = exchange(api, rp, get_code(browser, rp)).json()

    refreshed = form_post(api, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                          HTTP_AUTHORIZATION=rp.basic())

    assert refreshed.status_code == 200, refreshed.content
    body = refreshed.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert _claims(body["id_token"])["sid"] == _claims(first["id_token"])["sid"]
    assert refreshed["Cache-Control"] == "no-store"
    reused = form_post(api, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                       HTTP_AUTHORIZATION=rp.basic())
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # RFC 9700 §4.14.2: reuse ends the session, and that commit was not rolled back.
    assert Grant.objects.get(client=rp.client).end_reason == SessionEnd.REUSE


def test_a_refresh_token_of_another_client_is_invalid_grant(browser, rp, api):
    other = register("Other RP")
    first = exchange(api, rp, get_code(browser, rp)).json()

    response = form_post(api, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                         HTTP_AUTHORIZATION=other.basic())

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_a_refresh_asking_for_more_scope_is_invalid_scope_and_rotates_nothing(browser, rp, api):
    first = exchange(api, rp, get_code(browser, rp)).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}

    wider = form_post(api, "/token", {**refresh, "scope": "openid profile email offline_access"},
                      HTTP_AUTHORIZATION=rp.basic())

    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    # RFC 6749 §6: refused before rotating, so the client still holds a working refresh token.
    again = form_post(api, "/token", refresh, HTTP_AUTHORIZATION=rp.basic())
    assert again.status_code == 200, again.content
    assert Grant.objects.get(client=rp.client).ended_at is None


def test_a_refresh_may_narrow_the_access_tokens_scope(browser, rp, api):
    first = exchange(api, rp, get_code(browser, rp)).json()

    narrowed = form_post(api, "/token", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                         "scope": "openid email"}, HTTP_AUTHORIZATION=rp.basic())

    assert narrowed.status_code == 200, narrowed.content
    assert narrowed.json()["scope"] == "openid email"
    assert _claims(narrowed.json()["access_token"])["scope"] == "openid email"
    # The grant keeps what the user consented to: the next refresh may ask for all of it again.
    full = form_post(api, "/token", {"grant_type": "refresh_token", "refresh_token": narrowed.json()["refresh_token"]},
                     HTTP_AUTHORIZATION=rp.basic())
    assert full.json()["scope"] == "openid profile email"
