"""Client identifiers and secrets: generation, digests and the constant-time check."""
from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from idp.oauth import credentials

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def test_client_ids_are_random_letters_and_digits_so_never_read_as_an_option():
    ids = {credentials.generate_client_id() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9]{24}", client_id) for client_id in ids)


def test_secrets_carry_256_bits_in_url_safe_characters():
    secret = credentials.generate_client_secret()

    assert URL_SAFE.fullmatch(secret)
    assert len(secret) == 43  # 32 bytes in unpadded base64url (RFC 4648 §5)


def test_the_digest_is_the_hex_sha256_of_the_secret():
    assert credentials.secret_digest("s3cret") == hashlib.sha256(b"s3cret").hexdigest()


def test_a_secret_matches_its_own_digest_only():
    digest = credentials.secret_digest("right")

    assert credentials.secret_matches("right", digest)
    assert not credentials.secret_matches("wrong", digest)
    assert not credentials.secret_matches("right ", digest)
    assert not credentials.secret_matches("", digest)


@pytest.mark.parametrize("secret", [None, 42, b"right"])
def test_a_secret_that_is_not_a_string_matches_nothing(secret):
    assert not credentials.secret_matches(secret, credentials.secret_digest("right"))


def test_an_empty_digest_matches_nothing_not_even_an_empty_secret():
    assert not credentials.secret_matches("", "")
    assert not credentials.secret_matches("anything", "")


def test_a_malformed_secret_from_a_request_fails_instead_of_raising():
    assert not credentials.secret_matches("\ud800", credentials.secret_digest("right"))


def test_the_comparison_is_constant_time(monkeypatch):
    compared = []
    original = hmac.compare_digest

    def compare_digest(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(credentials.hmac, "compare_digest", compare_digest)
    digest = credentials.secret_digest("right")

    assert not credentials.secret_matches("wrong", digest)
    assert compared == [(credentials.secret_digest("wrong"), digest)]
