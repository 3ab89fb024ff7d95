"""Logout, log out everywhere, /api/me and /api/users."""
import jwt
import pytest
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from idp.models import LoginSession, SessionEnd
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _bearer(api, access: str):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


def test_logout_blacklists_the_refresh_token_and_ends_the_session(api, login, user):
    pair = login(user)

    response = _bearer(api, pair["access"]).post("/api/logout", {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 200
    assert response.json()["code"] == "logged_out"
    jti = jwt.decode(pair["refresh"], options={"verify_signature": False})["jti"]
    assert BlacklistedToken.objects.filter(token__jti=jti).exists()
    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.LOGOUT


def test_logout_twice_is_harmless(api, login, user):
    pair = login(user)
    _bearer(api, login(user)["access"])

    assert api.post("/api/logout/", {"refresh": pair["refresh"]}, format="json").status_code == 200
    assert api.post("/api/logout/", {"refresh": pair["refresh"]}, format="json").status_code == 200


def test_logout_without_a_bearer_token_gets_401_with_a_challenge(api, login, user):
    response = api.post("/api/logout", {"refresh": login(user)["refresh"]}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="kunci"'
    assert response.json()["code"] == "not_authenticated"


def test_logout_refuses_a_refresh_token_of_another_user(api, login, user, staff):
    theirs = login(staff)["refresh"]

    response = _bearer(api, login(user)["access"]).post("/api/logout", {"refresh": theirs}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "token_not_yours"
    assert not BlacklistedToken.objects.exists()


def test_logout_everywhere_ends_every_session_of_the_caller(api, login, user, staff):
    first, second, other = login(user), login(user), login(staff)

    response = _bearer(api, first["access"]).post("/api/logout/all", format="json")

    assert response.status_code == 200
    assert response.json()["sessions_ended"] == 2
    api.credentials()
    for pair in (first, second):
        refreshed = api.post("/api/login/refresh", {"refresh": pair["refresh"]}, format="json")
        assert refreshed.status_code == 401
    assert api.post("/api/login/refresh", {"refresh": other["refresh"]}, format="json").status_code == 200


def test_an_access_token_of_an_ended_session_is_refused_by_the_issuer(api, login, user):
    pair = login(user)
    _bearer(api, pair["access"]).post("/api/logout", {"refresh": pair["refresh"]}, format="json")

    response = api.get("/api/me")

    assert response.status_code == 401
    assert response.json()["code"] == "session_ended"


def test_me_returns_the_callers_identity(api, login, user, keyring):
    pair = login(user)

    response = _bearer(api, pair["access"]).get("/api/me")

    assert response.status_code == 200
    body = response.json()
    assert body["sub"] == str(user.pk)
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["kid"] == keyring["active"]
    assert body["sid"] == jwt.decode(pair["access"], options={"verify_signature": False})["sid"]


def test_me_without_a_token_gets_401(api, keyring):
    response = api.get("/api/me/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="kunci"'


@pytest.mark.parametrize(
    "header, code",
    [
        ("Bearer garbage", "token_malformed"),
        ("Bearer a.b.c", "token_malformed"),
        ("Bearer", "token_malformed"),
        ("Bearer one two", "token_malformed"),
    ],
)
def test_a_bad_bearer_token_gets_401_with_an_invalid_token_challenge(api, keyring, header, code):
    api.credentials(HTTP_AUTHORIZATION=header)

    response = api.get("/api/me")

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_refresh_token_is_not_a_bearer_token(api, login, user):
    response = _bearer(api, login(user)["refresh"]).get("/api/me")

    assert response.status_code == 401
    assert response.json()["code"] == "token_wrong_type"


def test_users_without_a_token_gets_401(api, keyring):
    response = api.get("/api/users")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="kunci"'


def test_users_for_a_non_staff_user_gets_403(api, login, user):
    response = _bearer(api, login(user)["access"]).get("/api/users")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_users_for_staff_lists_users_without_password_hashes(api, login, user, staff):
    response = _bearer(api, login(staff)["access"]).get("/api/users/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["username"] for row in body["results"]] == ["alice", "root"]
    assert "password" not in response.content.decode()
    assert get_user_model().objects.get(username="alice").check_password(PASSWORD)


def test_an_unknown_path_gets_a_json_404(api, keyring):
    response = api.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
