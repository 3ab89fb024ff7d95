"""Verifier profiles: each kind of token is accepted only by a verifier of its own profile."""
from __future__ import annotations

import pytest

from relying_party.exceptions import TokenExpired, TokenInvalid, TokenWrongType
from relying_party.verifier import ACCESS, REFRESH, TokenProfile
from tests.relying_party.conftest import serve_jwks
from tests.relying_party.issuer import T0, access_claims, sign


def _refresh(key, **overrides) -> str:
    claims = access_claims(**{"token_type": "refresh", "exp": int(T0) + 3000, **overrides})
    return sign(key, claims, typ="refresh+jwt")


@pytest.fixture
def refresh_verifier(http, make_verifier, key):
    serve_jwks(http, key)
    return make_verifier(profile=REFRESH, max_token_lifetime=86400)


@pytest.fixture
def access_verifier(http, make_verifier, key):
    serve_jwks(http, key)
    return make_verifier()


def test_the_default_profile_is_the_access_token_of_rfc_9068():
    assert ACCESS.types[0] == "at+jwt"
    assert "application/at+jwt" in ACCESS.types
    assert ACCESS.token_type == "access"
    assert set(ACCESS.required) == {"exp", "iat", "iss", "aud", "sub"}


def test_a_refresh_verifier_accepts_a_refresh_token(refresh_verifier, key):
    verified = refresh_verifier.verify(_refresh(key))

    assert verified["token_type"] == "refresh"
    assert verified.kid == key.kid


def test_a_refresh_verifier_refuses_an_access_token_by_its_typ(refresh_verifier, key):
    with pytest.raises(TokenWrongType) as refused:
        refresh_verifier.verify(sign(key))

    assert refused.value.code == "token_wrong_type"
    assert refused.value.description == "Token is not a refresh token (typ must be refresh+jwt)"


def test_a_refresh_verifier_refuses_access_claims_under_a_refresh_typ(refresh_verifier, key):
    with pytest.raises(TokenWrongType) as refused:
        refresh_verifier.verify(sign(key, access_claims(), typ="refresh+jwt"))

    assert refused.value.description == "Token is not a refresh token"


def test_an_access_verifier_refuses_a_refresh_token_by_its_typ(access_verifier, key):
    with pytest.raises(TokenWrongType) as refused:
        access_verifier.verify(_refresh(key, exp=int(T0) + 300))

    assert refused.value.description == "Token is not an access token (typ must be at+jwt)"


@pytest.mark.parametrize("claim", ["jti", "sid"])
def test_a_refresh_token_without_the_claims_its_profile_requires_is_invalid(refresh_verifier, key, claim):
    with pytest.raises(TokenInvalid) as refused:
        refresh_verifier.verify(_refresh(key, **{claim: None}))

    assert refused.value.description == "Token lacks a required claim"


def test_requiring_adds_claims_once_and_keeps_the_rest():
    profile = ACCESS.requiring("sid", "sub", "user_id")

    assert profile.required == ("exp", "iat", "iss", "aud", "sub", "sid", "user_id")
    assert (profile.types, profile.token_type) == (ACCESS.types, ACCESS.token_type)


def test_a_profile_without_a_token_type_rule_does_not_read_the_claim(http, make_verifier, key):
    serve_jwks(http, key)
    plain = TokenProfile(kind="a JWT", types=("jwt",), required=("exp", "iat", "iss", "aud", "sub"), token_type=None)

    verified = make_verifier(profile=plain).verify(sign(key, access_claims(token_type=None), typ="JWT"))

    assert "token_type" not in verified.claims


def test_now_overrides_the_clock_for_one_call(access_verifier, key):
    token = sign(key)

    with pytest.raises(TokenExpired):
        access_verifier.verify(token, now=T0 + 3600)
    assert access_verifier.verify(token).kid == key.kid


def test_each_verifier_keeps_its_own_parsed_headers(http, make_verifier, key):
    serve_jwks(http, key)
    first, second = make_verifier(), make_verifier()

    first.verify(sign(key))

    assert len(first._headers_seen) == 1
    assert second._headers_seen == {}
