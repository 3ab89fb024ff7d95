import hashlib
import threading
from datetime import timedelta

import jwt
import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp import sessions
from idp.models import LoginSession, RefreshRotation, SessionEnd
from keys.keyring import rotate_keys
from tests.conftest import PASSWORD, run_concurrently
from tests.idp.conftest import answers_lost

pytestmark = pytest.mark.django_db


def _refresh(api, token: str):
    return api.post("/api/login/refresh", {"refresh": token}, format="json")


def test_refresh_returns_a_new_pair_and_blacklists_the_old_refresh_token(api, login, user):
    pair = login(user)

    response = _refresh(api, pair["refresh"])

    assert response.status_code == 200
    new = response.json()
    assert set(new) == {"access", "refresh"}
    assert new["refresh"] != pair["refresh"]
    old_jti = jwt.decode(pair["refresh"], options={"verify_signature": False})["jti"]
    assert BlacklistedToken.objects.filter(token__jti=old_jti).exists()
    assert OutstandingToken.objects.filter(user=user).count() == 2


def test_the_rotated_token_keeps_the_session_and_identity(api, login, user):
    pair = login(user)
    new = _refresh(api, pair["refresh"]).json()

    old_claims = jwt.decode(pair["refresh"], options={"verify_signature": False})
    new_claims = jwt.decode(new["refresh"], options={"verify_signature": False})
    assert new_claims["sid"] == old_claims["sid"]
    assert (new_claims["sub"], new_claims["username"], new_claims["email"]) == (str(user.pk), "alice", "alice@example.com")
    assert new_claims["jti"] != old_claims["jti"]


def test_refresh_path_works_with_a_trailing_slash(api, login, user):
    response = api.post("/api/login/refresh/", {"refresh": login(user)["refresh"]}, format="json")

    assert response.status_code == 200


def test_reusing_a_rotated_refresh_token_ends_the_whole_session(api, login, user):
    first = login(user)["refresh"]
    second = _refresh(api, first).json()["refresh"]

    reuse = _refresh(api, first)

    assert reuse.status_code == 401
    assert reuse.json()["code"] == "token_reused"
    assert reuse["WWW-Authenticate"].startswith('Bearer realm="kunci", error="invalid_token"')
    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.REUSE
    newest = _refresh(api, second)
    assert newest.status_code == 401
    assert newest.json()["code"] == "session_ended"


def test_an_expired_refresh_token_gets_token_expired(api, login, user):
    # A negative lifetime issues a token whose exp is already a minute in the past.
    with override_settings(KUNCI_IDP={"REFRESH_TOKEN_LIFETIME": timedelta(seconds=-60), "LEEWAY": 0}):
        pair = login(user)
        response = _refresh(api, pair["refresh"])

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


def test_a_tampered_refresh_token_gets_token_invalid(api, login, user):
    header, payload, signature = login(user)["refresh"].split(".")
    tampered = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])

    response = _refresh(api, tampered)

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_an_access_token_is_refused_by_the_refresh_endpoint(api, login, user):
    response = _refresh(api, login(user)["access"])

    assert response.status_code == 401
    assert response.json()["code"] == "token_wrong_type"


def test_refresh_after_logout_gets_401(api, login, user):
    pair = login(user)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert api.post("/api/logout", {"refresh": pair["refresh"]}, format="json").status_code == 200
    api.credentials()

    response = _refresh(api, pair["refresh"])

    assert response.status_code == 401
    assert response.json()["code"] == "token_blacklisted"


def test_deactivating_a_user_ends_their_sessions_and_their_refresh_is_refused(api, login, user):
    pair = login(user)
    user.is_active = False
    user.save()

    response = _refresh(api, pair["refresh"])

    assert response.status_code == 401
    assert response.json()["code"] == "session_ended"
    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.USER_DEACTIVATED


def test_refresh_of_a_user_deactivated_behind_the_models_back_gets_401(api, login, user):
    pair = login(user)
    # A bulk update skips User.save(): the session stays open, and the refresh still checks the user.
    type(user).objects.filter(pk=user.pk).update(is_active=False)

    response = _refresh(api, pair["refresh"])

    assert response.status_code == 401
    assert response.json()["code"] == "user_inactive"


def test_tokens_signed_before_a_rotation_still_refresh_and_new_ones_carry_the_new_kid(api, login, user, keyring):
    pair = login(user)
    rotate_keys(force=True)

    response = _refresh(api, pair["refresh"])

    assert response.status_code == 200
    assert jwt.get_unverified_header(response.json()["access"])["kid"] == keyring["next"]
    assert jwt.get_unverified_header(pair["access"])["kid"] == keyring["active"]


def test_a_missing_refresh_field_gets_400(api, keyring):
    response = api.post("/api/login/refresh", {}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "missing_field"
    assert "refresh" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_give_exactly_one_success(keyring, user):
    token = APIClient().post("/api/login", {"username": "alice", "password": PASSWORD}, format="json").json()["refresh"]

    answers = run_concurrently([lambda: _refresh(APIClient(), token)] * 20)

    assert sorted(answer.status_code for answer in answers) == [200] + [401] * 19


def test_the_database_keeps_a_digest_of_each_refresh_token_never_the_token(login, user):
    refresh = login(user)["refresh"]

    stored = OutstandingToken.objects.get(user=user).token

    assert refresh not in stored
    assert stored == hashlib.sha256(refresh.encode()).hexdigest()


def test_a_refresh_carries_the_users_current_email(api, login, user):
    pair = login(user)
    user.email = "alice@new.example.com"
    user.save()

    access = _refresh(api, pair["refresh"]).json()["access"]

    assert jwt.decode(access, options={"verify_signature": False})["email"] == "alice@new.example.com"


@pytest.mark.django_db(transaction=True)
def test_a_refresh_retried_after_its_answer_was_lost_gets_a_working_pair(login, user):
    # The database committed the rotation, but the link dropped before the issuer could answer.
    first = login(user)["refresh"]
    client = APIClient(raise_request_exception=False)
    with answers_lost() as issued:
        assert _refresh(client, first).status_code != 200
    [lost] = issued

    retry = _refresh(client, first)

    assert retry.status_code == 200
    assert set(retry.json()) == {"access", "refresh"}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {retry.json()['access']}")
    assert client.get("/api/me").status_code == 200
    assert _refresh(client, retry.json()["refresh"]).status_code == 200
    assert BlacklistedToken.objects.filter(token__jti=jwt.decode(lost, options={"verify_signature": False})["jti"]).exists()
    assert LoginSession.objects.get(user=user).ended_at is None


@pytest.mark.django_db(transaction=True)
def test_past_the_reuse_grace_a_retry_ends_the_session(api, login, user):
    first = login(user)["refresh"]
    with answers_lost():
        _refresh(APIClient(raise_request_exception=False), first)
    RefreshRotation.objects.update(rotated_at=timezone.now() - timedelta(seconds=6))

    reuse = _refresh(api, first)

    assert reuse.status_code == 401
    assert reuse.json()["code"] == "token_reused"
    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.REUSE


@pytest.mark.django_db(transaction=True)
def test_the_winner_of_concurrent_refreshes_keeps_its_session(keyring, user, monkeypatch):
    token = APIClient().post("/api/login", {"username": "alice", "password": PASSWORD}, format="json").json()["refresh"]
    # Concurrent means that every request arrived before the winner committed; a thread that is
    # scheduled late would arrive after the answer, and repeat the token like a thief.
    arrive, arrived = sessions._arrive, threading.Barrier(5)
    monkeypatch.setattr(sessions, "_arrive", lambda jti: (arrive(jti), arrived.wait())[0])

    answers = run_concurrently([lambda: _refresh(APIClient(), token)] * 5)
    monkeypatch.setattr(sessions, "_arrive", arrive)

    winners = [answer for answer in answers if answer.status_code == 200]
    assert len(winners) == 1
    assert {answer.json()["code"] for answer in answers if answer.status_code == 401} == {"token_already_rotated"}
    assert LoginSession.objects.get(user=user).ended_at is None
    assert BlacklistedToken.objects.count() == 1
    again = APIClient().post("/api/login/refresh", {"refresh": winners[0].json()["refresh"]}, format="json")
    assert again.status_code == 200


def test_a_refresh_moves_the_sessions_expiry_to_the_new_refresh_tokens(api, login, user):
    pair = login(user)
    session = LoginSession.objects.get(user=user)
    first_expiry = jwt.decode(pair["refresh"], options={"verify_signature": False})["exp"]
    assert int(session.expires_at.timestamp()) == first_expiry

    new = _refresh(api, pair["refresh"]).json()

    session.refresh_from_db()
    assert int(session.expires_at.timestamp()) == jwt.decode(new["refresh"], options={"verify_signature": False})["exp"]
