"""Token introspection (RFC 7662) at /introspect: the answer for live and dead tokens, who may see what, and every refusal."""
from __future__ import annotations

import base64

import jwt
import pytest

from idp import sessions
from idp.models import LoginSession, SessionEnd
from idp.oauth.endpoints.presented_token import PresentedTokenEndpoint
from tests.idp.oauth.conftest import (
    assert_oauth_error,
    authenticated_post,
    exchange,
    form_post,
    get_code,
    other_issuers_access_token,
    register,
    tokens_of,
)

pytestmark = pytest.mark.django_db

ISSUER = "http://127.0.0.1:8000"
INACTIVE = {"active": False}


def introspect(api, registered, token: str, path: str = "/introspect", **extra):
    return authenticated_post(api, path, registered, {"token": token, **extra})


def answer(api, registered, token: str, **extra) -> dict:
    response = introspect(api, registered, token, **extra)
    assert response.status_code == 200, response.content
    # RFC 7662 §2.2: application/json; never cached (§4).
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store" and response["Pragma"] == "no-cache"
    return response.json()


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def resource_server(keyring):
    """A confidential client that does not accept the shared access-token audience."""
    return register("Resource server", accepts_shared_audience=False)


# Live tokens (RFC 7662 §2.2).


@pytest.mark.parametrize("path", ["/introspect", "/introspect/"])
def test_a_live_access_token_is_active_with_its_claims(browser, rp, api, path):
    tokens = tokens_of(browser, api, rp)
    access = claims(tokens["access_token"])

    body = answer(api, rp, tokens["access_token"], path=path)

    assert body == {
        "active": True, "scope": "openid profile email", "client_id": rp.client_id, "username": "alice",
        "token_type": "Bearer", "exp": access["exp"], "iat": access["iat"], "sub": access["sub"],
        "aud": "kunci-apps", "iss": ISSUER, "jti": access["jti"], "sid": browser.session["kunci_sid"],
    }


def test_a_live_refresh_token_is_active_with_its_grants_scope(browser, rp, api):
    tokens = tokens_of(browser, api, rp, scope="openid email")
    refresh = claims(tokens["refresh_token"])

    body = answer(api, rp, tokens["refresh_token"], token_type_hint="refresh_token")

    assert body == {
        "active": True, "scope": "openid email", "client_id": rp.client_id, "username": "alice",
        "token_type": "refresh_token", "exp": refresh["exp"], "iat": refresh["iat"], "sub": refresh["sub"],
        "aud": "kunci-apps", "iss": ISSUER, "jti": refresh["jti"], "sid": refresh["sid"],
    }


@pytest.mark.parametrize("kind, hint", [
    ("access_token", "refresh_token"), ("refresh_token", "access_token"), ("access_token", "no_such_type"),
])
def test_a_wrong_or_unknown_hint_still_finds_the_token(browser, rp, api, kind, hint):
    tokens = tokens_of(browser, api, rp)

    assert answer(api, rp, tokens[kind], token_type_hint=hint)["active"] is True


def test_a_client_secret_post_client_introspects(browser, post_rp, api):
    tokens = tokens_of(browser, api, post_rp)

    assert answer(api, post_rp, tokens["access_token"])["active"] is True


# Who may see what.


def test_a_client_that_accepts_the_shared_audience_sees_every_access_token(browser, rp, api, login, user):
    other = register("Other RP")
    theirs = tokens_of(browser, api, other)
    json_api = login(user)["access"]

    assert answer(api, rp, theirs["access_token"])["client_id"] == other.client_id
    body = answer(api, rp, json_api)
    assert body["active"] is True and body["username"] == "alice" and body["token_type"] == "Bearer"
    # The JSON API's tokens have neither.
    assert "client_id" not in body and "scope" not in body


def test_a_client_sees_no_other_clients_refresh_token_nor_the_json_apis(browser, rp, api, login, user):
    other = register("Other RP")
    theirs = tokens_of(browser, api, other)

    assert answer(api, rp, theirs["refresh_token"]) == INACTIVE
    assert answer(api, rp, login(user)["refresh"]) == INACTIVE


def test_a_client_that_does_not_accept_the_shared_audience_sees_only_its_own_tokens(browser, rp, resource_server, api):
    mine, theirs = tokens_of(browser, api, resource_server), tokens_of(browser, api, rp)

    assert answer(api, resource_server, mine["access_token"])["active"] is True
    assert answer(api, resource_server, mine["refresh_token"])["active"] is True
    assert answer(api, resource_server, theirs["access_token"]) == INACTIVE
    assert answer(api, resource_server, theirs["refresh_token"]) == INACTIVE


# Dead tokens are `{"active": false}` and nothing else.


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_revoked_token_is_inactive(browser, rp, api, kind):
    tokens = tokens_of(browser, api, rp)
    assert authenticated_post(api, "/revoke", rp, {"token": tokens["refresh_token"]}).status_code == 200

    assert answer(api, rp, tokens[kind]) == INACTIVE


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_token_of_an_ended_session_is_inactive(browser, rp, api, kind):
    tokens = tokens_of(browser, api, rp)
    sessions.end_session(LoginSession.objects.get(), SessionEnd.LOGOUT)

    assert answer(api, rp, tokens[kind]) == INACTIVE


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_token_of_a_grant_ended_by_a_code_replay_is_inactive(browser, rp, api, kind):
    code = get_code(browser, rp)
    tokens = exchange(api, rp, code).json()
    exchange(api, rp, code)

    assert answer(api, rp, tokens[kind]) == INACTIVE


def test_a_rotated_refresh_token_is_inactive_and_its_successor_active(browser, rp, api):
    first = tokens_of(browser, api, rp)
    second = authenticated_post(api, "/token", rp, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})

    assert answer(api, rp, first["refresh_token"]) == INACTIVE
    assert answer(api, rp, second.json()["refresh_token"])["active"] is True


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_token_of_an_inactive_user_is_inactive(browser, rp, api, user, kind):
    tokens = tokens_of(browser, api, rp)
    # A bulk update: the user's sessions stay open, yet the token is dead.
    type(user).objects.filter(pk=user.pk).update(is_active=False)

    assert answer(api, rp, tokens[kind]) == INACTIVE


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_token_is_inactive_from_its_exp_on_without_the_verifiers_leeway(browser, rp, api, monkeypatch, kind):
    token = tokens_of(browser, api, rp)[kind]
    exp = claims(token)["exp"]

    monkeypatch.setattr(PresentedTokenEndpoint, "_now", lambda self: exp - 1)
    assert answer(api, rp, token)["active"] is True
    # Within the 10 s the verifier tolerates for clock skew, but past exp (RFC 7519 §4.1.4).
    monkeypatch.setattr(PresentedTokenEndpoint, "_now", lambda self: exp + 1)
    assert answer(api, rp, token) == INACTIVE
    monkeypatch.setattr(PresentedTokenEndpoint, "_now", lambda self: exp + 3600)
    assert answer(api, rp, token) == INACTIVE


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 10_000, "\x00"], ids=["garbage", "three-segments", "too-large", "nul"])
def test_a_malformed_token_is_inactive(rp, api, token):
    assert answer(api, rp, token) == INACTIVE


def test_another_issuers_token_and_an_id_token_are_inactive(browser, rp, api):
    assert answer(api, rp, other_issuers_access_token()) == INACTIVE
    assert answer(api, rp, tokens_of(browser, api, rp)["id_token"]) == INACTIVE


# Refused requests (RFC 7662 §2.3: RFC 6749 §5.2 errors).


def test_a_public_client_may_not_introspect(browser, public_rp, api):
    tokens = tokens_of(browser, api, public_rp)

    assert_oauth_error(introspect(api, public_rp, tokens["access_token"]), "invalid_client", 401)


def test_a_request_without_client_authentication_is_invalid_client(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    assert_oauth_error(form_post(api, "/introspect", {"token": tokens["access_token"]}), "invalid_client", 401)


def test_a_wrong_secret_is_invalid_client_with_a_basic_challenge(browser, rp, api):
    tokens = tokens_of(browser, api, rp)
    wrong = "Basic " + base64.b64encode(f"{rp.client_id}:wrong".encode()).decode()

    response = form_post(api, "/introspect", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=wrong)

    assert_oauth_error(response, "invalid_client", 401)
    assert response["WWW-Authenticate"] == 'Basic realm="kunci", error="invalid_client"'


def test_a_client_secret_in_the_query_string_is_invalid_client_even_with_good_credentials(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    response = api.post(f"/introspect?client_secret={rp.secret}", f"token={tokens['access_token']}",
                        content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=rp.basic())

    assert_oauth_error(response, "invalid_client", 401)


def test_a_request_without_a_token_is_invalid_request(rp, api):
    assert_oauth_error(introspect(api, rp, ""), "invalid_request", 400)


def test_get_is_not_allowed(api):
    assert api.get("/introspect").status_code == 405
