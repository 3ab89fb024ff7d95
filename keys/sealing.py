"""Encrypt private keys at rest with AES-256-GCM under a key-encryption key (KEK).

The KEK never touches the database; the key id is bound in as associated data, so a sealed
private key copied onto another row does not open.
"""
from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.exceptions import KeyEncryptionKeyError, SealedKeyError

_FORMAT_VERSION = b"\x01"
_NONCE_BYTES = 12


def parse_key_encryption_key(text: str) -> bytes:
    """Decode a base64url KEK of exactly 32 bytes; the error never repeats the value."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError) as e:
        raise KeyEncryptionKeyError("KUNCI_KEY_ENCRYPTION_KEY is not valid base64url") from e
    if len(key) != 32:
        raise KeyEncryptionKeyError(
            f"KUNCI_KEY_ENCRYPTION_KEY must decode to 32 bytes, not {len(key)}; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return key


def seal(kek: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt `plaintext` under `kek`, binding `associated_data`."""
    nonce = os.urandom(_NONCE_BYTES)
    return _FORMAT_VERSION + nonce + AESGCM(kek).encrypt(nonce, plaintext, associated_data)


def unseal(kek: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """Decrypt what `seal` produced, or raise SealedKeyError (wrong KEK, wrong row, or tampering)."""
    if sealed[:1] != _FORMAT_VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
        raise SealedKeyError("sealed private key has an unknown format")
    nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        return AESGCM(kek).decrypt(nonce, ciphertext, associated_data)
    except InvalidTag as e:
        raise SealedKeyError(
            "sealed private key does not open: wrong KUNCI_KEY_ENCRYPTION_KEY, or the row was altered"
        ) from e
