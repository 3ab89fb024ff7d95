"""The UserInfo endpoint, named after the Basic OP test modules it implements."""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

import pytest

from idp.accounts.browser import SID_SESSION_KEY
from tests.idp.oauth.conftest import exchange, form_post, get_code


@pytest.fixture
def tokens(browser, rp, api, user):
    user.first_name, user.last_name = "Alice", "Liddell"
    user.save()
    return exchange(api, rp, get_code(browser, rp)).json()


EXPECTED = {
    "sub": None, "name": "Alice Liddell", "given_name": "Alice", "family_name": "Liddell",
    "preferred_username": "alice", "email": "alice@example.com", "email_verified": False,
}


def _expected(user):
    return {**EXPECTED, "sub": str(user.pk), "updated_at": int(user.updated_at.timestamp())}


def test_oidcc_userinfo_get(api, tokens, user):
    response = api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert response.status_code == 200
    assert response.json() == _expected(user)


def test_oidcc_userinfo_post_header(api, tokens, user):
    response = api.post("/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert response.json() == _expected(user)


def test_oidcc_userinfo_post_body(api, tokens, user):
    response = form_post(api, "/userinfo", {"access_token": tokens["access_token"]})

    assert response.json() == _expected(user)


@pytest.mark.parametrize("scope, expected", [
    ("openid", {"sub"}),
    ("openid profile", {"sub", "name", "given_name", "family_name", "preferred_username", "updated_at"}),
    ("openid email", {"sub", "email", "email_verified"}),
], ids=["openid", "oidcc-scope-profile", "oidcc-scope-email"])
def test_oidcc_scope_claims(browser, rp, api, user, scope, expected):
    user.first_name, user.last_name = "Alice", "Liddell"
    user.save()
    access = exchange(api, rp, get_code(browser, rp, scope=scope)).json()["access_token"]

    assert set(api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").json()) == expected


def test_no_token_is_a_bare_bearer_challenge(api, keyring):
    response = api.get("/userinfo")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="kunci"'


def test_a_bad_token_is_invalid_token(api, keyring):
    response = api.get("/userinfo", HTTP_AUTHORIZATION="Bearer not.a.token")

    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_json_api_token_without_the_openid_scope_is_insufficient_scope(api, login, user):
    access = login(user)["access"]

    response = api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}")

    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_two_ways_at_once_is_invalid_request(api, tokens):
    response = form_post(api, "/userinfo", {"access_token": tokens["access_token"]},
                         HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert response.status_code == 400


def test_a_token_of_a_signed_out_session_is_refused(api, browser, tokens):
    browser.post("/signout")

    response = api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert response.status_code == 401
    assert SID_SESSION_KEY not in browser.session


def test_oidcc_scope_profile_updated_at_is_the_last_change_in_epoch_seconds(browser, rp, api, user):
    # OpenID Connect Core §5.1: a JSON number, seconds since 1970-01-01T00:00:00Z.
    when = datetime(2024, 5, 17, 8, 30, 15, 999_000, tzinfo=dt_timezone.utc)
    type(user).objects.filter(pk=user.pk).update(updated_at=when)
    access = exchange(api, rp, get_code(browser, rp, scope="openid profile")).json()["access_token"]

    claims = api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").json()

    assert claims["updated_at"] == 1715934615
    assert type(claims["updated_at"]) is int


def test_saving_the_user_moves_updated_at(user):
    when = datetime(2024, 5, 17, tzinfo=dt_timezone.utc)
    type(user).objects.filter(pk=user.pk).update(updated_at=when)
    user.refresh_from_db()

    user.first_name = "Alicia"
    user.save()

    user.refresh_from_db()
    assert user.updated_at > when
