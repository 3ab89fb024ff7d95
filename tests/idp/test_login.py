import json
from urllib.parse import urlencode

import jwt
import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import override_settings

from idp.models import LoginSession
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_with_json_returns_an_access_and_a_refresh_token(api, keyring, user):
    response = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert jwt.get_unverified_header(body["access"])["kid"] == keyring["active"]
    assert OutstandingToken.objects.filter(user=user).count() == 1
    assert LoginSession.objects.filter(user=user, ended_at__isnull=True).count() == 1


def test_login_accepts_a_form_body(api, keyring, user):
    response = api.post(
        "/api/login",
        data=urlencode({"username": "alice", "password": PASSWORD}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert "access" in response.json()


def test_login_accepts_the_email_as_username(api, keyring, user):
    response = api.post("/api/login", {"username": "ALICE@example.com", "password": PASSWORD}, format="json")

    assert response.status_code == 200


def test_login_path_works_with_a_trailing_slash(api, keyring, user):
    response = api.post("/api/login/", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200


def _failed_login(api, username: str):
    return api.post("/api/login", {"username": username, "password": "wrong password"}, format="json")


def test_wrong_password_and_unknown_user_get_the_same_401(api, keyring, user):
    wrong_password = _failed_login(api, "alice")
    unknown_user = _failed_login(api, "mallory")

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json() == unknown_user.json() == {
        "detail": "Unable to log in with the provided credentials.",
        "code": "invalid_credentials",
    }
    assert wrong_password["WWW-Authenticate"] == unknown_user["WWW-Authenticate"]
    assert not LoginSession.objects.exists()


def test_a_wrong_password_gets_a_challenge_without_an_error_code(api, keyring, user):
    # RFC 6750 §3.1: no token was presented, so the challenge names no error (and no invalid_token).
    response = _failed_login(api, "alice")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="kunci"'



class CountingHasher(MD5PasswordHasher):
    """Count the expensive step: MD5's verify() hashes through encode(), as make_password() does."""

    calls: list[str] = []

    def encode(self, password, salt):
        CountingHasher.calls.append(password)
        return super().encode(password, salt)


@pytest.mark.parametrize("username", ["alice", "mallory", "nobody@example.com"])
def test_every_failed_login_path_runs_the_password_hasher(api, keyring, username):
    with override_settings(PASSWORD_HASHERS=["tests.idp.test_login.CountingHasher"]):
        from django.contrib.auth import get_user_model

        get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)
        CountingHasher.calls.clear()
        response = _failed_login(api, username)

    assert response.status_code == 401
    assert CountingHasher.calls == ["wrong password"]


def test_an_inactive_user_cannot_log_in(api, keyring, user):
    user.is_active = False
    user.save()

    assert _failed_login(api, "alice").json()["code"] == "invalid_credentials"
    response = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 401


def test_missing_fields_get_400_naming_them(api, keyring):
    response = api.post("/api/login", {}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "missing_field"
    assert "password" in body["detail"] and "username" in body["detail"]


def test_malformed_json_gets_400(api, keyring):
    response = api.post("/api/login", data='{"username": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_an_unsupported_content_type_gets_415(api, keyring):
    response = api.post("/api/login", data="username=alice", content_type="text/plain")

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_a_wrong_method_gets_405(api, keyring):
    response = api.get("/api/login")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "GET" not allowed.', "code": "method_not_allowed"}


def test_a_body_over_64_kb_gets_413_before_parsing(api, keyring):
    body = json.dumps({"username": "a" * (65 * 1024), "password": "x"})

    response = api.post("/api/login", data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_a_username_with_control_characters_gets_400(api, keyring):
    response = api.post("/api/login", {"username": "al\x00ice", "password": "x"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid_input", "null_characters_not_allowed"}


def test_a_huge_username_gets_400(api, keyring):
    response = api.post("/api/login", {"username": "a" * 1000, "password": "x"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "max_length"


def test_login_answers_503_when_the_private_keys_cannot_be_opened(api, keyring, user, settings):
    import secrets

    settings.KUNCI_KEYS = {**settings.KUNCI_KEYS, "KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32)}

    response = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "detail": "The issuer's signing keys are unavailable; try again later.",
        "code": "keyring_unavailable",
    }


def test_the_first_login_of_a_fresh_deployment_creates_the_keys(api, user):
    response = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
