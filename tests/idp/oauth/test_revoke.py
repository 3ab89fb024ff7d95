"""Token revocation (RFC 7009) at /revoke: what each token revokes, whose tokens a client may revoke, and every refusal."""
from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from idp.models import Grant, LoginSession, SessionEnd
from idp.oauth.endpoints.presented_token import PresentedTokenEndpoint
from tests.idp.oauth.conftest import (
    assert_oauth_error,
    authenticated_post,
    form_post,
    other_issuers_access_token,
    register,
    tokens_of,
)

pytestmark = pytest.mark.django_db


def revoke(api, registered, token: str, path: str = "/revoke", **extra):
    return authenticated_post(api, path, registered, {"token": token, **extra})


def refresh(api, registered, refresh_token: str):
    return authenticated_post(api, "/token", registered, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def userinfo(api, access: str):
    return api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}")


def assert_revoked_answer(response) -> None:
    # RFC 7009 §2.2: 200; the body is ignored by the client. Never cached.
    assert response.status_code == 200, response.content
    assert response.json() == {}
    assert response["Cache-Control"] == "no-store" and response["Pragma"] == "no-cache"


# What a token revokes.


@pytest.mark.parametrize("path", ["/revoke", "/revoke/"])
def test_revoking_a_refresh_token_ends_its_grant_and_every_token_of_it(browser, rp, api, path):
    tokens = tokens_of(browser, api, rp)

    assert_revoked_answer(revoke(api, rp, tokens["refresh_token"], path=path, token_type_hint="refresh_token"))

    grant = Grant.objects.get(client=rp.client)
    assert grant.ended_at is not None and grant.end_reason == SessionEnd.REVOKED
    assert refresh(api, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    # RFC 7009 §2.1: the access tokens of the same grant stop working too.
    assert userinfo(api, tokens["access_token"]).status_code == 401


def test_revoking_an_access_token_ends_its_grant_and_its_refresh_token(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    assert_revoked_answer(revoke(api, rp, tokens["access_token"], token_type_hint="access_token"))

    assert Grant.objects.get(client=rp.client).end_reason == SessionEnd.REVOKED
    assert userinfo(api, tokens["access_token"]).status_code == 401
    assert refresh(api, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_ends_only_that_clients_grant_the_session_and_other_clients_live_on(browser, rp, api):
    other = register("Other RP")
    mine, theirs = tokens_of(browser, api, rp), tokens_of(browser, api, other)

    revoke(api, rp, mine["refresh_token"])

    assert LoginSession.objects.get().ended_at is None
    assert Grant.objects.get(client=other.client).ended_at is None
    assert userinfo(api, theirs["access_token"]).status_code == 200
    assert refresh(api, other, theirs["refresh_token"]).status_code == 200
    # The browser is still signed in: the client's next authorization opens a new grant at once.
    assert tokens_of(browser, api, rp)["access_token"]


def test_revoking_a_rotated_refresh_token_ends_its_family(browser, rp, api):
    first = tokens_of(browser, api, rp)
    second = refresh(api, rp, first["refresh_token"]).json()

    assert_revoked_answer(revoke(api, rp, first["refresh_token"]))

    assert Grant.objects.get(client=rp.client).end_reason == SessionEnd.REVOKED
    assert refresh(api, rp, second["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_public_client_revokes_its_own_token_with_its_client_id_alone(browser, public_rp, api):
    tokens = tokens_of(browser, api, public_rp)

    assert_revoked_answer(revoke(api, public_rp, tokens["refresh_token"]))

    assert Grant.objects.get(client=public_rp.client).end_reason == SessionEnd.REVOKED


def test_a_client_secret_post_client_revokes(browser, post_rp, api):
    tokens = tokens_of(browser, api, post_rp)

    assert_revoked_answer(revoke(api, post_rp, tokens["access_token"]))

    assert Grant.objects.get(client=post_rp.client).end_reason == SessionEnd.REVOKED


def test_a_single_page_app_revokes_cross_origin_from_its_web_origin(browser, public_rp, api):
    tokens = tokens_of(browser, api, public_rp)
    origin = "https://rp.example"  # the origin of its redirect URI

    preflight = api.options("/revoke", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    response = form_post(api, "/revoke", {"token": tokens["refresh_token"], "client_id": public_rp.client_id},
                         HTTP_ORIGIN=origin)

    assert preflight["Access-Control-Allow-Origin"] == origin
    assert_revoked_answer(response)
    assert response["Access-Control-Allow-Origin"] == origin
    assert "Access-Control-Allow-Credentials" not in response
    assert Grant.objects.get(client=public_rp.client).end_reason == SessionEnd.REVOKED


# token_type_hint is a hint only (RFC 7009 §2.1).


@pytest.mark.parametrize("kind, hint", [
    ("access_token", "refresh_token"), ("refresh_token", "access_token"),
    ("refresh_token", "id_token"), ("access_token", "no_such_type"),
])
def test_a_wrong_or_unknown_hint_is_ignored_and_the_token_revoked(browser, rp, api, kind, hint):
    tokens = tokens_of(browser, api, rp)

    assert_revoked_answer(revoke(api, rp, tokens[kind], token_type_hint=hint))

    assert Grant.objects.get(client=rp.client).end_reason == SessionEnd.REVOKED


def test_an_id_token_is_unsupported_token_type_and_revokes_nothing(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    assert_oauth_error(revoke(api, rp, tokens["id_token"]), "unsupported_token_type")

    assert Grant.objects.get(client=rp.client).ended_at is None


# Whose tokens (RFC 7009 §2.1).


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_token_of_another_client_is_invalid_grant_and_revokes_nothing(browser, rp, api, kind):
    other = register("Other RP")
    tokens = tokens_of(browser, api, rp)

    assert_oauth_error(revoke(api, other, tokens[kind]), "invalid_grant")

    assert Grant.objects.get(client=rp.client).ended_at is None
    assert refresh(api, rp, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_a_token_of_the_json_api_is_invalid_grant_and_its_session_lives_on(rp, api, login, user, kind):
    pair = login(user)

    assert_oauth_error(revoke(api, rp, pair[kind]), "invalid_grant")

    assert LoginSession.objects.get().ended_at is None
    assert api.post("/api/login/refresh", {"refresh": pair["refresh"]}, format="json").status_code == 200


# Invalid tokens get 200 and revoke nothing (RFC 7009 §2.2).


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 10_000, other_issuers_access_token()],
                         ids=["garbage", "three-segments", "too-large", "another-issuer"])
def test_an_invalid_token_is_answered_200(rp, api, token):
    assert_revoked_answer(revoke(api, rp, token))


def test_an_expired_token_is_answered_200_and_revokes_nothing(browser, rp, api, monkeypatch):
    tokens = tokens_of(browser, api, rp)
    monkeypatch.setattr(PresentedTokenEndpoint, "_now", lambda self: time.time() + 86_400 * 2)

    assert_revoked_answer(revoke(api, rp, tokens["refresh_token"]))
    assert_revoked_answer(revoke(api, rp, tokens["access_token"]))

    assert Grant.objects.get(client=rp.client).ended_at is None


def test_revoking_twice_is_answered_200_both_times(browser, rp, api):
    tokens = tokens_of(browser, api, rp)
    revoke(api, rp, tokens["refresh_token"])
    ended_at = Grant.objects.get(client=rp.client).ended_at

    assert_revoked_answer(revoke(api, rp, tokens["refresh_token"]))
    assert_revoked_answer(revoke(api, rp, tokens["access_token"]))

    assert Grant.objects.get(client=rp.client).ended_at == ended_at


def test_a_token_of_an_ended_grant_does_not_end_the_grant_that_replaced_it(browser, rp, api, monkeypatch):
    old = tokens_of(browser, api, rp)
    revoke(api, rp, old["refresh_token"])
    # The next grant opens seconds later: past the second of slack by which a token may predate its grant.
    later = timezone.now() + timedelta(seconds=5)
    monkeypatch.setattr(timezone, "now", lambda: later)
    new = tokens_of(browser, api, rp)

    assert_revoked_answer(revoke(api, rp, old["access_token"]))

    assert Grant.objects.filter(client=rp.client, ended_at__isnull=True).count() == 1
    assert userinfo(api, new["access_token"]).status_code == 200


# Refused requests (RFC 6749 §5.2).


def test_a_request_without_a_token_is_invalid_request(rp, api):
    assert_oauth_error(revoke(api, rp, ""), "invalid_request")
    assert_oauth_error(authenticated_post(api, "/revoke", rp, {}), "invalid_request")


def test_a_token_in_the_query_string_is_not_read(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    response = api.post(f"/revoke?token={tokens['refresh_token']}", "", content_type="application/x-www-form-urlencoded",
                        HTTP_AUTHORIZATION=rp.basic())

    assert_oauth_error(response, "invalid_request")
    assert Grant.objects.get(client=rp.client).ended_at is None


def test_a_token_sent_twice_is_invalid_request(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    response = api.post("/revoke", f"token={tokens['refresh_token']}&token=x",
                        content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=rp.basic())

    assert_oauth_error(response, "invalid_request")
    assert Grant.objects.get(client=rp.client).ended_at is None


def test_a_request_without_client_authentication_is_invalid_client(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    response = form_post(api, "/revoke", {"token": tokens["refresh_token"]})

    assert_oauth_error(response, "invalid_client", status=401)
    assert "WWW-Authenticate" not in response
    assert Grant.objects.get(client=rp.client).ended_at is None


def test_a_wrong_secret_is_invalid_client_with_a_basic_challenge(browser, rp, api):
    tokens = tokens_of(browser, api, rp)
    wrong = "Basic " + base64.b64encode(f"{rp.client_id}:wrong".encode()).decode()

    response = form_post(api, "/revoke", {"token": tokens["refresh_token"]}, HTTP_AUTHORIZATION=wrong)

    assert_oauth_error(response, "invalid_client", status=401)
    assert response["WWW-Authenticate"] == 'Basic realm="kunci", error="invalid_client"'
    assert Grant.objects.get(client=rp.client).ended_at is None


def test_a_confidential_client_cannot_pose_as_public(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    response = form_post(api, "/revoke", {"token": tokens["refresh_token"], "client_id": rp.client_id})

    assert_oauth_error(response, "invalid_client", status=401)
    assert Grant.objects.get(client=rp.client).ended_at is None


def test_a_client_secret_in_the_query_string_is_invalid_client_even_with_good_credentials(browser, rp, api):
    tokens = tokens_of(browser, api, rp)

    response = api.post(f"/revoke?client_secret={rp.secret}", f"token={tokens['refresh_token']}",
                        content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=rp.basic())

    assert_oauth_error(response, "invalid_client", status=401)
    assert Grant.objects.get(client=rp.client).ended_at is None


def test_get_is_not_allowed(api):
    assert api.get("/revoke").status_code == 405
