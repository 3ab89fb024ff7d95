"""keys.jwk: public JWKs (RFC 7517/7518) named by their RFC 7638 thumbprint."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from keys import jwk

# RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM"
    "4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_E = "AQAB"
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_thumbprint_of_the_rfc7638_example_key_matches_section_3_1():
    assert jwk.rsa_thumbprint(RFC7638_N, RFC7638_E) == RFC7638_THUMBPRINT


def test_public_jwk_of_the_rfc7638_example_key_reproduces_its_n_e_and_thumbprint():
    public_key = jwk.public_key_from_jwk({"kty": "RSA", "n": RFC7638_N, "e": RFC7638_E})

    rendered = jwk.public_jwk(public_key)

    assert rendered["n"] == RFC7638_N
    assert rendered["e"] == RFC7638_E
    assert rendered["kid"] == RFC7638_THUMBPRINT


def test_public_jwk_has_exactly_kty_use_alg_kid_n_and_e(private_key):
    rendered = jwk.public_jwk(private_key.public_key())

    assert set(rendered) == {"kty", "use", "alg", "kid", "n", "e"}
    assert rendered["kty"] == "RSA"
    assert rendered["use"] == "sig"
    assert rendered["alg"] == "RS256"
    assert not PRIVATE_MEMBERS & set(rendered)


def test_kid_is_the_thumbprint_of_the_rendered_n_and_e(private_key):
    rendered = jwk.public_jwk(private_key.public_key())

    assert rendered["kid"] == jwk.rsa_thumbprint(rendered["n"], rendered["e"])
    assert len(rendered["kid"]) == 43


def test_b64url_uint_of_65537_is_aqab():
    assert jwk.b64url_uint(65537) == "AQAB"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "AA"),  # RFC 7518 §2: zero is one zero-valued octet
        (1, "AQ"),
        (255, "_w"),  # base64url alphabet, not + and /
        (256, "AQA"),  # minimal big-endian octets, no padding
    ],
)
def test_b64url_uint_uses_minimal_unpadded_base64url_octets(value, encoded):
    assert jwk.b64url_uint(value) == encoded


def test_public_key_from_jwk_round_trips_public_jwk(private_key):
    public_key = private_key.public_key()

    rebuilt = jwk.public_key_from_jwk(jwk.public_jwk(public_key))

    assert rebuilt.public_numbers() == public_key.public_numbers()


def test_crypto_core_imports_no_django():
    # STYLE rule 2: jwk and sealing take keys as arguments and must load without Django.
    root = Path(__file__).resolve().parents[2]
    probe = "import sys, keys.jwk, keys.sealing; sys.exit('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
