"""keys.sealing: private keys sealed with AES-256-GCM under the KEK, bound to their kid."""
from __future__ import annotations

import base64
import secrets

import pytest

from keys import sealing
from keys.exceptions import KeyEncryptionKeyError, SealedKeyError

KEK = secrets.token_bytes(32)
KID = b"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
PLAINTEXT = b"0\x82\x04\xbd...a DER private key stands here"


def test_seal_then_unseal_returns_the_plaintext():
    sealed = sealing.seal(KEK, PLAINTEXT, KID)

    assert sealing.unseal(KEK, sealed, KID) == PLAINTEXT


def test_sealed_bytes_do_not_contain_the_plaintext_and_differ_each_time():
    first, second = sealing.seal(KEK, PLAINTEXT, KID), sealing.seal(KEK, PLAINTEXT, KID)

    assert PLAINTEXT not in first
    assert first != second  # a fresh nonce per seal


def test_unseal_under_the_wrong_kek_raises_sealed_key_error():
    sealed = sealing.seal(KEK, PLAINTEXT, KID)

    with pytest.raises(SealedKeyError, match="does not open"):
        sealing.unseal(secrets.token_bytes(32), sealed, KID)


@pytest.mark.parametrize(
    "position",
    [1, 12, 13, -1],  # nonce start, nonce end, first ciphertext byte, last tag byte
    ids=["nonce-start", "nonce-end", "ciphertext", "tag"],
)
def test_unseal_of_altered_ciphertext_raises_sealed_key_error(position):
    sealed = bytearray(sealing.seal(KEK, PLAINTEXT, KID))
    sealed[position] ^= 0x01

    with pytest.raises(SealedKeyError):
        sealing.unseal(KEK, bytes(sealed), KID)


def test_unseal_of_a_truncated_or_unversioned_blob_raises_sealed_key_error():
    sealed = sealing.seal(KEK, PLAINTEXT, KID)

    with pytest.raises(SealedKeyError, match="unknown format"):
        sealing.unseal(KEK, sealed[:20], KID)
    with pytest.raises(SealedKeyError, match="unknown format"):
        sealing.unseal(KEK, b"\x02" + sealed[1:], KID)
    with pytest.raises(SealedKeyError, match="unknown format"):
        sealing.unseal(KEK, b"", KID)


def test_a_sealed_key_moved_to_another_kid_does_not_open():
    sealed = sealing.seal(KEK, PLAINTEXT, KID)

    with pytest.raises(SealedKeyError):
        sealing.unseal(KEK, sealed, b"another-kid")


def test_unseal_errors_never_repeat_the_kek_or_the_plaintext():
    sealed = sealing.seal(KEK, PLAINTEXT, KID)
    wrong = secrets.token_bytes(32)

    with pytest.raises(SealedKeyError) as excinfo:
        sealing.unseal(wrong, sealed, KID)

    message = str(excinfo.value)
    for secret in (KEK, wrong, PLAINTEXT):
        assert secret.hex() not in message
        assert base64.urlsafe_b64encode(secret).decode().rstrip("=") not in message


def test_parse_key_encryption_key_accepts_token_urlsafe_32_with_surrounding_whitespace():
    key = secrets.token_bytes(32)
    text = base64.urlsafe_b64encode(key).decode().rstrip("=")

    assert sealing.parse_key_encryption_key(f"  {text}\n") == key


@pytest.mark.parametrize(
    "value",
    ["x", "not-base64-at-all!!", "Ωmega-is-not-ascii-" + "A" * 24],
    ids=["one-char", "punctuation", "non-ascii"],
)
def test_kek_that_is_not_base64url_is_refused_without_repeating_the_value(value):
    with pytest.raises(KeyEncryptionKeyError, match="not valid base64url") as excinfo:
        sealing.parse_key_encryption_key(value)

    assert value not in str(excinfo.value)
    assert value not in repr(excinfo.value)
    assert value not in str(excinfo.value.__cause__)


@pytest.mark.parametrize("nbytes", [0, 16, 31, 33, 64])
def test_kek_of_the_wrong_length_is_refused_without_repeating_the_value(nbytes):
    value = base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=")

    with pytest.raises(KeyEncryptionKeyError, match=f"must decode to 32 bytes, not {nbytes}") as excinfo:
        sealing.parse_key_encryption_key(value)

    if value:
        assert value not in str(excinfo.value)
        assert value[:8] not in str(excinfo.value)
