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


# --- Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6) --------------------------------

from relying_party.exceptions import SessionEnded  # noqa: E402
from relying_party.verifier import BACKCHANNEL_LOGOUT_EVENT, LOGOUT  # noqa: E402
from tests.relying_party.issuer import CLIENT_ID, logout_claims, sign_logout  # noqa: E402


@pytest.fixture
def logout_verifier(http, make_verifier, key):
    serve_jwks(http, key)
    return make_verifier(profile=LOGOUT, audience=CLIENT_ID, verified_cache_size=0)


def test_a_logout_verifier_accepts_a_logout_token(logout_verifier, key):
    verified = logout_verifier.verify(sign_logout(key))

    assert verified["sid"] == "session-1"
    assert verified["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}


@pytest.mark.parametrize("without", ["sid", "sub"])
def test_a_logout_token_may_name_only_a_sid_or_only_a_sub(logout_verifier, key, without):
    assert logout_verifier.verify(sign_logout(key, logout_claims(**{without: None}))).kid == key.kid


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"sid": None, "sub": None}, "Logout token names neither a sid nor a sub"),
        ({"sid": 7}, "Logout token's sid and sub must be non-empty strings of at most 255 characters"),
        ({"sub": "x" * 256}, "Logout token's sid and sub must be non-empty strings of at most 255 characters"),
        ({"sid": ""}, "Logout token's sid and sub must be non-empty strings of at most 255 characters"),
        ({"nonce": "n-0S6_WzA2Mj"}, "Logout token must not carry a nonce"),
        ({"events": None}, "Token lacks a required claim"),
        ({"events": {}}, "Logout token has no backchannel-logout event"),
        ({"events": [BACKCHANNEL_LOGOUT_EVENT]}, "Logout token has no backchannel-logout event"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}}, "Logout token has no backchannel-logout event"),
        ({"events": {"http://schemas.openid.net/event/other": {}}}, "Logout token has no backchannel-logout event"),
        ({"jti": None}, "Token lacks a required claim"),
        ({"jti": ""}, "Logout token's jti must be a non-empty string"),
        ({"jti": 12}, "Token is invalid"),  # PyJWT refuses a jti that is not a string
        ({"exp": None}, "Token lacks a required claim"),
        ({"iat": None}, "Token lacks a required claim"),
    ],
)
def test_a_logout_token_breaking_a_rule_of_its_own_is_invalid(logout_verifier, key, changes, description):
    with pytest.raises(TokenInvalid) as refused:
        logout_verifier.verify(sign_logout(key, logout_claims(**changes)))

    assert refused.value.description == description


def test_a_logout_verifier_refuses_an_access_token_and_an_id_token_by_their_typ(logout_verifier, key):
    for token in (sign(key, logout_claims()), sign(key, logout_claims(), typ="JWT")):
        with pytest.raises(TokenWrongType) as refused:
            logout_verifier.verify(token)
        assert refused.value.description == "Token is not a logout token (typ must be logout+jwt)"


def test_an_access_verifier_refuses_a_logout_token_by_its_typ(access_verifier, key):
    with pytest.raises(TokenWrongType):
        access_verifier.verify(sign_logout(key, logout_claims(aud="kunci-apps")))


def test_a_logout_token_for_another_client_is_refused(logout_verifier, key):
    from relying_party.exceptions import WrongAudience

    with pytest.raises(WrongAudience):
        logout_verifier.verify(sign_logout(key, logout_claims(aud="app2-client")))


# --- The revocation check ---------------------------------------------------------------------------


class Revoked:
    """A RevocationCheck that revokes the sids it holds and counts its calls."""

    def __init__(self) -> None:
        self.sids: set[str] = set()
        self.calls = 0

    def is_revoked(self, claims) -> bool:
        self.calls += 1
        return claims.get("sid") in self.sids


@pytest.fixture
def revoked() -> Revoked:
    return Revoked()


def test_a_token_of_an_ended_session_is_refused_as_session_ended(http, make_verifier, key, revoked):
    serve_jwks(http, key)
    verifier = make_verifier(revocations=revoked)
    revoked.sids.add("session-1")

    with pytest.raises(SessionEnded) as refused:
        verifier.verify(sign(key))

    assert (refused.value.code, refused.value.description) == ("session_ended", "Token's session has ended")
    assert verifier.verify(sign(key, access_claims(sid="session-2"))).claims["sid"] == "session-2"


def test_the_revocation_check_runs_on_a_verified_token_cache_hit(http, make_verifier, key, revoked):
    serve_jwks(http, key)
    verifier = make_verifier(revocations=revoked)
    token = sign(key)
    verifier.verify(token)
    assert verifier.cached_count() == 1

    revoked.sids.add("session-1")

    with pytest.raises(SessionEnded):
        verifier.verify(token)
    assert revoked.calls == 2


def test_a_token_that_does_not_verify_is_never_checked_for_revocation(http, make_verifier, key, revoked):
    serve_jwks(http, key)
    verifier = make_verifier(revocations=revoked)
    revoked.sids.add("session-1")

    with pytest.raises(TokenExpired):
        verifier.verify(sign(key, access_claims(now=T0 - 3600)))
    assert revoked.calls == 0
