"""JWKSAuthentication: who request.user is, and what every refusal looks like on the wire (RFC 6750 §3)."""
from __future__ import annotations

import json
import time
from contextlib import nullcontext
from typing import Any

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from relying_party.authentication import ClaimsUser, JWKSAuthentication, bearer_challenge
from relying_party.errors import exception_handler
from relying_party.verifier import VerifiedToken
from tests.relying_party.conftest import answer_jwks, jwks_calls, serve_jwks
from tests.relying_party.issuer import AUDIENCE, ISSUER, JWKS_URL, access_claims, sign, signing_key

RELYING_PARTY = {"ISSUER": ISSUER, "JWKS_URL": JWKS_URL, "AUDIENCE": AUDIENCE, "APP_NAME": "app-test"}


class ProtectedView(APIView):
    authentication_classes = [JWKSAuthentication]
    permission_classes = [IsAuthenticated]

    def get_exception_handler(self) -> Any:
        return exception_handler

    def get(self, request: Any) -> Response:
        return Response({"user": request.user.pk, "kid": request.auth.kid})


class ProtectedViewWithDRFHandler(ProtectedView):
    def get_exception_handler(self) -> Any:
        return drf_exception_handler


@pytest.fixture
def rp(http, key):
    serve_jwks(http, key)
    with override_settings(RELYING_PARTY=RELYING_PARTY):
        yield


def now_claims(**overrides: Any) -> dict[str, Any]:
    # The default verifier runs on the real clock.
    return access_claims(now=time.time(), **overrides)


def get(authorization: str | None = None, view: type[APIView] = ProtectedView) -> Response:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    request = APIRequestFactory().get("/protected", **headers)
    response = view.as_view()(request)
    response.render()
    return response


def body(response: Response) -> Any:
    return json.loads(response.content)


def test_a_valid_bearer_token_authenticates_a_stateless_user_built_from_claims(rp, key):
    token = sign(key, now_claims())
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}")

    # No django_db marker: any database query here would fail the test.
    user, auth = JWKSAuthentication().authenticate(ProtectedView().initialize_request(request))

    assert isinstance(user, ClaimsUser)
    assert user.is_authenticated and not user.is_anonymous and user.is_active
    assert (user.id, user.pk, user.username, user.email) == ("42", "42", "alice", "alice@example.test")
    assert user.get_username() == "alice"
    assert user.claims["sid"] == "session-1"
    assert not user.is_staff and not user.has_perm("anything")
    assert isinstance(auth, VerifiedToken)
    assert auth.kid == key.kid and auth.claims["sub"] == "42"


def test_a_valid_token_reaches_the_view(rp, key):
    response = get(f"Bearer {sign(key, now_claims())}")
    assert response.status_code == 200
    assert response.data == {"user": "42", "kid": key.kid}


def test_the_scheme_is_case_insensitive(rp, key):
    assert get(f"bearer {sign(key, now_claims())}").status_code == 200


@pytest.mark.parametrize("authorization", [None, "", "Basic YWxpY2U6c2VjcmV0", "Token abc"])
def test_without_bearer_credentials_the_401_challenge_has_no_error_code(rp, http, authorization):
    response = get(authorization)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="app-test"'
    assert body(response) == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}
    assert jwks_calls(http) == 0


def test_another_scheme_is_left_to_the_other_authenticators(rp):
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION="Basic YWxpY2U6c2VjcmV0")
    assert JWKSAuthentication().authenticate(ProtectedView().initialize_request(request)) is None


@pytest.mark.parametrize(
    ("token", "code", "description"),
    [
        (lambda key: sign(key, now_claims(exp=int(time.time()) - 60)), "token_expired", "Token is expired"),
        (lambda key: sign(key, now_claims(aud="other-app")), "wrong_audience", "Token is not for this audience"),
        (lambda key: sign(key, now_claims(iss="https://evil.test")), "wrong_issuer", "Token is from another issuer"),
        (
            lambda key: sign(key, now_claims(token_type="refresh"), typ="refresh+jwt"),
            "token_wrong_type",
            "Token is not an access token (typ must be at+jwt)",
        ),
        (
            lambda key: sign(signing_key("attacker"), now_claims()),
            "unknown_key",
            "Token is signed by a key the issuer does not publish",
        ),
        (lambda key: "not-a-jwt", "token_malformed", "Token is not a well-formed JWS"),
        (lambda key: sign(key, now_claims(), kid=None), "token_invalid", "Token has no kid"),
    ],
    ids=lambda value: value if isinstance(value, str) and "_" in value else "",
)
def test_a_refused_token_gets_401_with_an_invalid_token_challenge_and_a_coded_body(rp, key, token, code, description):
    response = get(f"Bearer {token(key)}")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == (
        f'Bearer realm="app-test", error="invalid_token", error_description="{description}"'
    )
    assert response["Content-Type"] == "application/json"
    assert body(response) == {"detail": description, "code": code}


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer  ", "Bearer one two"])
def test_a_bearer_header_without_exactly_one_token_is_malformed(rp, authorization):
    response = get(authorization)
    assert response.status_code == 401
    assert body(response)["code"] == "token_malformed"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_an_oversize_token_is_refused_before_verification(rp, http, key):
    response = get("Bearer " + "a" * 9000)
    assert response.status_code == 401
    assert body(response) == {"detail": "Token is larger than 8192 bytes", "code": "token_too_large"}
    assert jwks_calls(http) == 0


def test_a_non_ascii_token_is_malformed(rp):
    response = get("Bearer tök.en.x")
    assert response.status_code == 401
    assert body(response)["code"] == "token_malformed"


def test_a_cold_start_with_the_issuer_unreachable_answers_503_with_retry_after(http, key):
    answer_jwks(http, body=requests.ConnectionError("connection refused"))
    with override_settings(RELYING_PARTY=RELYING_PARTY):
        response = get(f"Bearer {sign(key, now_claims())}")

    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1
    assert body(response) == {
        "detail": "The issuer's signing keys are unavailable; try again later",
        "code": "jwks_unavailable",
    }


def test_drfs_own_exception_handler_still_sends_the_challenge_and_retry_after(http, key):
    serve_jwks(http, key)
    with override_settings(RELYING_PARTY=RELYING_PARTY):
        expired = get(f"Bearer {sign(key, now_claims(exp=1))}", view=ProtectedViewWithDRFHandler)
    assert expired.status_code == 401
    assert 'error="invalid_token", error_description="Token is expired"' in expired["WWW-Authenticate"]

    answer_jwks(http, status=500)
    with override_settings(RELYING_PARTY=RELYING_PARTY):
        unavailable = get(f"Bearer {sign(key, now_claims())}", view=ProtectedViewWithDRFHandler)
    assert unavailable.status_code == 503
    assert int(unavailable["Retry-After"]) >= 1


def test_a_change_of_settings_takes_effect_on_the_next_request(http, key):
    serve_jwks(http, key)
    token = sign(key, now_claims())
    with override_settings(RELYING_PARTY=RELYING_PARTY):
        assert get(f"Bearer {token}").status_code == 200
    with override_settings(RELYING_PARTY={**RELYING_PARTY, "AUDIENCE": "another-app"}):
        assert body(get(f"Bearer {token}"))["code"] == "wrong_audience"


@pytest.mark.parametrize(
    ("description", "sent"),
    [
        ('say "hi"', "say hi"),
        ("back\\slash", "backslash"),
        ("line\r\nSet-Cookie: x=1", "lineSet-Cookie: x=1"),
        ("café", "caf"),
    ],
)
def test_the_error_description_is_held_to_the_rfc_6750_charset(description, sent):
    with override_settings(RELYING_PARTY={"APP_NAME": 'my "app"'}):
        challenge = bearer_challenge("invalid_token", description)
    assert challenge == f'Bearer realm="my app", error="invalid_token", error_description="{sent}"'


# LOCAL_USERS: a local Django user per (iss, sub).


@pytest.fixture
def local_users(transactional_db, http, key):
    """Turn LOCAL_USERS on, with the relying_party table present under any test settings."""
    serve_jwks(http, key)
    installed = "relying_party" in settings.INSTALLED_APPS
    apps = nullcontext() if installed else override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "relying_party"])
    with apps, override_settings(RELYING_PARTY={**RELYING_PARTY, "LOCAL_USERS": True}):
        from relying_party.models import ExternalIdentity

        # Under settings.test_rp the migration made the table; under the issuer's settings, make it here.
        create = ExternalIdentity._meta.db_table not in connection.introspection.table_names()
        if create:
            with connection.schema_editor() as editor:
                editor.create_model(ExternalIdentity)
        try:
            yield ExternalIdentity
        finally:
            if create:
                with connection.schema_editor() as editor:
                    editor.delete_model(ExternalIdentity)


def authenticate(token: str) -> tuple[Any, Any]:
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}")
    return JWKSAuthentication().authenticate(ProtectedView().initialize_request(request))


def test_local_users_creates_a_django_user_on_first_sight_and_reuses_it(local_users, key):
    first, auth = authenticate(sign(key, now_claims()))
    again, _ = authenticate(sign(key, now_claims()))

    assert isinstance(first, get_user_model())
    assert again.pk == first.pk
    assert (first.username, first.email) == ("alice", "alice@example.test")
    assert not first.has_usable_password()
    assert local_users.objects.get().user_id == first.pk
    assert (local_users.objects.get().issuer, local_users.objects.get().subject) == (ISSUER, "42")
    assert auth.kid == key.kid


def test_local_users_are_keyed_by_subject_not_username(local_users, key):
    alice, _ = authenticate(sign(key, now_claims(sub="1", username="alice")))
    other_alice, _ = authenticate(sign(key, now_claims(sub="2", username="alice")))

    assert other_alice.pk != alice.pk
    assert other_alice.username.startswith("alice-")
    assert get_user_model().objects.count() == 2


def test_an_inactive_local_user_is_refused(local_users, key):
    user, _ = authenticate(sign(key, now_claims()))
    user.is_active = False
    user.save()

    response = get(f"Bearer {sign(key, now_claims())}")

    assert response.status_code == 401
    assert body(response) == {"detail": "User is inactive", "code": "user_inactive"}
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.parametrize("claims", [{"sub": "x" * 256}, {"sub": "4\x002"}, {"iss": ISSUER, "username": "al\x00ice"}])
def test_local_users_refuse_claims_the_database_could_not_store_without_a_500(local_users, key, claims):
    response = get(f"Bearer {sign(key, now_claims(**claims))}")

    if "username" in claims:
        assert response.status_code == 200
        assert get_user_model().objects.get().username == "alice"
    else:
        assert response.status_code == 401
        assert body(response)["code"] == "token_invalid"


def test_a_second_identity_with_a_taken_email_still_gets_a_local_user(local_users, key):
    # Where the user model keeps emails unique (the issuer's does), the second identity's copy of
    # an email is left out rather than refusing its token: (iss, sub) is what links an identity.
    first, _ = authenticate(sign(key, now_claims(sub="1", username="alice", email="a@example.com")))
    second, _ = authenticate(sign(key, now_claims(sub="2", username="bob", email="a@example.com")))

    assert second.pk != first.pk
    assert first.email == "a@example.com"
    assert second.email in {"", "a@example.com"}
