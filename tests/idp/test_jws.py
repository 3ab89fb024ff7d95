"""idp/jws.py: the one minting seam signs any claims RS256 with the active key, its kid and a typ."""
from __future__ import annotations

import jwt
import pytest

from idp import jws
from keys import keyring as keys_api

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("typ", ["at+jwt", "refresh+jwt", "JWT", "logout+jwt"])
def test_sign_writes_rs256_the_active_kid_and_the_given_typ(keyring, typ):
    token = jws.sign({"sub": "42", "nonce": "n-0"}, typ=typ)

    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": keyring["active"], "typ": typ}


def test_sign_signs_exactly_the_claims_given(keyring):
    claims = {"iss": "https://issuer.test", "sub": "42", "aud": ["a", "b"], "custom": {"x": 1}}

    token = jws.sign(claims, typ="JWT")

    public = keys_api.verifying_key(keyring["active"])
    assert jwt.decode(token, public, algorithms=["RS256"], options={"verify_aud": False}) == claims


def test_sign_follows_a_rotation(keyring):
    rotated = keys_api.rotate_keys(force=True).activated

    token = jws.sign({"sub": "42"}, typ="JWT")

    assert jwt.get_unverified_header(token)["kid"] == rotated

