"""TokenVerifier: strict checks (rule 4) and the LRU of verified tokens (rule 6)."""
from __future__ import annotations

import hashlib
import hmac
import json
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from jwt.algorithms import RSAAlgorithm

from relying_party.exceptions import (
    InvalidSetting,
    JWKSUnavailable,
    TokenExpired,
    TokenInvalid,
    TokenMalformed,
    TokenNotYetValid,
    TokenRejected,
    TokenTooLarge,
    TokenWrongType,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
)
from relying_party.verifier import VerifiedToken
from tests.relying_party.conftest import answer_jwks, jwks_calls, serve_jwks
from tests.relying_party.issuer import (
    AUDIENCE,
    ISSUER,
    JWKS_URL,
    T0,
    access_claims,
    b64url,
    forge,
    rsa_sign,
    sign,
    signing_key,
)


@pytest.fixture
def verifier(http, make_verifier, key):
    serve_jwks(http, key)
    return make_verifier()


def test_a_valid_access_token_yields_its_claims_and_kid(verifier, key):
    verified = verifier.verify(sign(key))

    assert isinstance(verified, VerifiedToken)
    assert verified.kid == key.kid
    assert verified.sub == "42"
    assert verified["username"] == "alice"
    assert verified.claims["sid"] == "session-1"
    assert verified.exp == T0 + 300


def test_the_claims_of_a_verified_token_cannot_be_changed(verifier, key):
    verified = verifier.verify(sign(key))
    with pytest.raises(TypeError):
        verified.claims["sub"] = "0"  # type: ignore[index]


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"exp": int(T0) - 11}, TokenExpired),
        ({"exp": int(T0) - 9}, None),  # expired, but within the 10-second leeway
        ({"nbf": int(T0) + 11}, TokenNotYetValid),
        ({"nbf": int(T0) + 9}, None),
        ({"iat": int(T0) + 11}, TokenNotYetValid),
        ({"aud": "another-app"}, WrongAudience),
        ({"aud": ["another-app", AUDIENCE]}, None),
        ({"iss": "https://evil.test"}, WrongIssuer),
        ({"iss": ISSUER + "/"}, WrongIssuer),
        ({"sub": None}, TokenInvalid),
        ({"exp": None}, TokenInvalid),
        ({"iat": None}, TokenInvalid),
        ({"aud": None}, TokenInvalid),
        ({"iss": None}, TokenInvalid),
        ({"exp": "tomorrow"}, TokenInvalid),
        ({"exp": True}, TokenInvalid),
        ({"sub": 42}, TokenInvalid),
        ({"token_type": "refresh"}, TokenWrongType),
        ({"token_type": None}, TokenWrongType),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, dict) else getattr(value, "__name__", str(value)),
)
def test_claims_are_checked_strictly(verifier, key, claims, error):
    token = sign(key, access_claims(**claims))
    if error is None:
        assert verifier.verify(token).kid == key.kid
    else:
        with pytest.raises(error) as caught:
            verifier.verify(token)
        assert caught.value.code == error.code


def test_an_infinite_exp_is_refused_not_crashed_on(verifier, key):
    token = rsa_sign(key, {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, {**access_claims(), "exp": 1e400})
    with pytest.raises(TokenRejected):
        verifier.verify(token)


@pytest.mark.parametrize("typ", ["refresh+jwt", "JWT", None, 7])
def test_a_token_whose_typ_is_not_at_jwt_is_refused(verifier, key, typ):
    with pytest.raises(TokenWrongType) as caught:
        verifier.verify(sign(key, typ=typ))
    assert caught.value.code == "token_wrong_type"


def test_a_refresh_token_from_the_issuer_is_refused(verifier, key):
    refresh = sign(key, access_claims(token_type="refresh", exp=int(T0) + 86400), typ="refresh+jwt")
    with pytest.raises(TokenWrongType):
        verifier.verify(refresh)


@pytest.mark.parametrize("typ", ["application/at+jwt", "AT+JWT"])
def test_the_media_type_form_of_at_jwt_is_accepted(verifier, key, typ):
    # RFC 9068 §4 and RFC 7515 §4.1.9.
    assert verifier.verify(sign(key, typ=typ)).kid == key.kid


def test_a_token_without_kid_is_refused_before_any_fetch(http, verifier, key):
    with pytest.raises(TokenInvalid, match="no kid"):
        verifier.verify(sign(key, kid=None))
    assert jwks_calls(http) == 0


def test_alg_none_is_refused_before_any_fetch(http, verifier, key):
    token = forge({"alg": "none", "kid": key.kid, "typ": "at+jwt"}, access_claims())
    with pytest.raises(TokenInvalid) as caught:
        verifier.verify(token)
    assert caught.value.code == "token_invalid"
    assert jwks_calls(http) == 0


def test_hs256_signed_with_the_public_key_pem_as_the_secret_is_refused(verifier, key):
    # The classic algorithm confusion: an HMAC "signed" with what the verifier holds as its key.
    header = {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}
    signing_input = ".".join(b64url(json.dumps(part).encode()) for part in (header, access_claims()))
    mac = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(TokenInvalid, match="algorithm"):
        verifier.verify(f"{signing_input}.{b64url(mac)}")


def test_an_rs256_token_is_refused_when_settings_allow_only_ps256(http, make_verifier, key):
    serve_jwks(http, key.jwk(alg=None))
    verifier = make_verifier(algorithms=["PS256"])
    with pytest.raises(TokenInvalid, match="algorithm"):
        verifier.verify(sign(key))


def test_a_tampered_payload_fails_the_signature_check(verifier, key):
    header, _, signature = sign(key).split(".")
    payload = b64url(json.dumps(access_claims(sub="1", username="admin")).encode())
    with pytest.raises(TokenInvalid, match="signature"):
        verifier.verify(f"{header}.{payload}.{signature}")


def test_a_token_signed_by_an_unpublished_key_is_refused_as_unknown_key(verifier):
    with pytest.raises(UnknownKey) as caught:
        verifier.verify(sign(signing_key("attacker")))
    assert caught.value.code == "unknown_key"


def test_a_token_claiming_a_published_kid_but_signed_by_another_key_is_refused(verifier, key):
    forged = rsa_sign(signing_key("attacker"), {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, access_claims())
    with pytest.raises(TokenInvalid, match="signature"):
        verifier.verify(forged)


@pytest.mark.parametrize("member", ["jku", "x5u", "jwk", "x5c"])
def test_key_location_headers_are_never_fetched_or_trusted(http, verifier, key, member):
    attacker = signing_key("attacker")
    http.get("https://evil.test/keys", json={"keys": [attacker.jwk()]})
    value = {
        "jku": "https://evil.test/keys",
        "x5u": "https://evil.test/keys",
        "jwk": attacker.jwk(),
        "x5c": ["MIIB"],
    }[member]

    with pytest.raises(UnknownKey):
        verifier.verify(sign(attacker, **{member: value}))
    # The same header on a genuine token is ignored, not followed.
    assert verifier.verify(sign(key, **{member: value})).kid == key.kid

    assert [call.request.url for call in http.calls] == [JWKS_URL]


def test_an_unknown_critical_header_is_refused(verifier, key):
    with pytest.raises(TokenRejected):
        verifier.verify(sign(key, crit=["exp-policy"], **{"exp-policy": 1}))


def test_a_token_over_the_size_cap_is_refused_before_any_parsing_or_fetch(http, make_verifier, key):
    verifier = make_verifier(max_token_bytes=1024)
    huge = sign(key, access_claims(padding="x" * 2000))
    with mock.patch("jwt.get_unverified_header") as parse:
        with pytest.raises(TokenTooLarge) as caught:
            verifier.verify(huge)
    parse.assert_not_called()
    assert caught.value.code == "token_too_large"
    assert jwks_calls(http) == 0


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "...", "eyJhbGciOiJSUzI1NiJ9.!!!.sig", "tökén.a.b", b"bytes"],
)
def test_garbage_is_refused_as_malformed(http, verifier, token):
    with pytest.raises(TokenMalformed) as caught:
        verifier.verify(token)
    assert caught.value.code == "token_malformed"
    assert jwks_calls(http) == 0


def test_jwks_unavailability_is_not_a_token_rejection(http, make_verifier, key):
    answer_jwks(http, status=502)
    verifier = make_verifier()
    with pytest.raises(JWKSUnavailable):
        verifier.verify(sign(key))


# Rule 6: the LRU of verified tokens.


@pytest.fixture
def rsa_verifications():
    with mock.patch.object(RSAAlgorithm, "verify", autospec=True, side_effect=RSAAlgorithm.verify) as verify:
        yield verify


def test_a_repeated_token_costs_a_lookup_not_a_second_rsa_verify(verifier, key, rsa_verifications):
    token = sign(key)

    first = verifier.verify(token)
    for _ in range(10):
        assert verifier.verify(token) is first

    assert rsa_verifications.call_count == 1
    assert verifier.cached_count() == 1


def test_a_cached_token_is_refused_once_it_expires(verifier, key, clock, rsa_verifications):
    token = sign(key, access_claims(exp=int(T0) + 60))
    verifier.verify(token)

    clock.advance(60 + 10)
    with pytest.raises(TokenExpired):
        verifier.verify(token)
    assert verifier.cached_count() == 0


def test_a_cached_token_is_dropped_when_its_kid_leaves_the_jwks(http, make_verifier, make_cache, clock, key, next_key):
    serve_jwks(http, key, max_age=300)
    verifier = make_verifier(make_cache(refetch_cooldown=30))
    token = sign(key, access_claims(exp=int(T0) + 3600))
    verifier.verify(token)
    serve_jwks(http, next_key, max_age=300)  # the key was revoked

    clock.advance(300)
    with pytest.raises(UnknownKey):
        verifier.verify(token)

    assert verifier.cached_count() == 0


def test_a_cached_token_is_reverified_when_its_kid_names_a_new_key(http, make_verifier, make_cache, clock, key):
    serve_jwks(http, key, max_age=300)
    verifier = make_verifier(make_cache())
    token = sign(key, access_claims(exp=int(T0) + 3600))
    verifier.verify(token)
    serve_jwks(http, signing_key("attacker").jwk(kid=key.kid), max_age=300)

    clock.advance(300)
    with pytest.raises(TokenInvalid, match="signature"):
        verifier.verify(token)


def test_the_lru_holds_at_most_its_size_and_forgets_the_least_recent(verifier, make_verifier, key, rsa_verifications):
    verifier = make_verifier(verifier.jwks, verified_cache_size=2)
    first, second, third = (sign(key) for _ in range(3))
    verifier.verify(first)
    verifier.verify(second)
    verifier.verify(first)  # first is now the most recent
    verifier.verify(third)  # evicts second

    assert verifier.cached_count() == 2
    calls = rsa_verifications.call_count
    verifier.verify(first)
    assert rsa_verifications.call_count == calls
    verifier.verify(second)
    assert rsa_verifications.call_count == calls + 1


def test_a_zero_size_lru_verifies_every_time(verifier, make_verifier, key, rsa_verifications):
    verifier = make_verifier(verifier.jwks, verified_cache_size=0)
    token = sign(key)
    verifier.verify(token)
    verifier.verify(token)
    assert rsa_verifications.call_count == 2
    assert verifier.cached_count() == 0


def test_a_refused_token_is_not_cached(verifier, key):
    token = sign(key, access_claims(aud="another-app"))
    for _ in range(2):
        with pytest.raises(WrongAudience):
            verifier.verify(token)
    assert verifier.cached_count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"issuer": ""}, "ISSUER"),
        ({"issuer": None}, "ISSUER"),
        ({"audience": None}, "AUDIENCE"),
        ({"audience": [""]}, "AUDIENCE"),
        ({"algorithms": ["HS256"]}, "ALGORITHMS"),
        ({"algorithms": ["RS256", "none"]}, "ALGORITHMS"),
        ({"leeway": -1}, "LEEWAY"),
        ({"leeway": 3600}, "LEEWAY"),
        ({"min_rsa_bits": 1024}, "MIN_RSA_BITS"),
        ({"max_token_bytes": 0}, "MAX_TOKEN_BYTES"),
        ({"verified_cache_size": -1}, "VERIFIED_CACHE_SIZE"),
    ],
)
def test_the_constructor_refuses_unusable_options_by_name(make_verifier, options, message):
    with pytest.raises(InvalidSetting, match=message):
        make_verifier(**options)


# Never anything but a named refusal, whatever arrives.


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_text_is_verified_or_refused_with_a_named_error(verifier, text):
    with pytest.raises(TokenRejected):
        verifier.verify(text)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.fixed_dictionaries({"alg": st.just("RS256"), "typ": st.just("at+jwt")}, optional={"crit": _json, "b64": _json}),
    claims=st.dictionaries(
        st.sampled_from(["iss", "aud", "sub", "exp", "iat", "nbf", "token_type", "jti", "sid"]), _json, max_size=9
    ),
)
def test_any_signed_header_and_claims_are_verified_or_refused_with_a_named_error(verifier, key, header, claims):
    token = rsa_sign(key, {**header, "kid": key.kid}, claims)
    try:
        verifier.verify(token)
    except TokenRejected:
        pass
