"""idp/verification.py: the issuer verifies its own tokens with the relying party's verifier, over its keyring."""
from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from idp import sessions
from idp.verification import ACCESS_PROFILE, REFRESH_PROFILE, build_verifier, verify_access, verify_refresh
from keys import keyring as keys_api
from relying_party.exceptions import TokenExpired, TokenRejected, TokenWrongType, UnknownKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(keyring, user) -> sessions.TokenPair:
    return sessions.start_session(user)


def test_the_issuer_verifies_its_access_and_refresh_tokens(pair, user):
    assert verify_access(pair.access)["user_id"] == str(user.pk)
    assert verify_refresh(pair.refresh)["token_type"] == "refresh"


def test_each_kind_is_refused_by_the_other_profile(pair):
    with pytest.raises(TokenWrongType):
        verify_access(pair.refresh)
    with pytest.raises(TokenWrongType):
        verify_refresh(pair.access)


def test_a_token_of_a_revoked_key_is_unknown_at_once(pair, keyring):
    assert verify_access(pair.access)  # now in the verified-token cache
    keys_api.revoke_key(keyring["active"])

    with pytest.raises(UnknownKey) as refused:
        verify_access(pair.access)
    assert refused.value.code == "unknown_key"


def test_the_clock_is_injected(pair):
    late = build_verifier(ACCESS_PROFILE, clock=lambda: time.time() + 3600)

    with pytest.raises(TokenExpired):
        late.verify(pair.access)
    with pytest.raises(TokenExpired):
        verify_refresh(pair.refresh, now=time.time() + 2 * 86400)


def test_the_issuer_requires_the_claims_its_sessions_read():
    assert {"sid", "user_id", "jti"} <= set(ACCESS_PROFILE.required)
    assert {"sid", "user_id", "jti"} <= set(REFRESH_PROFILE.required)


@pytest.mark.parametrize("token, code", [("abc.def", "token_malformed"), ("a.b.c", "token_malformed"), ("x" * 9000, "token_too_large")])
def test_junk_gets_the_relying_partys_code_at_every_issuer_endpoint(keyring, user, token, code):
    with pytest.raises(TokenRejected) as refused:
        verify_access(token)
    assert refused.value.code == code

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/me").json()["code"] == code
    assert APIClient().post("/api/login/refresh", {"refresh": token}, format="json").json()["code"] == code
