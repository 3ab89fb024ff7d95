"""Errors of the keyring. They know nothing of HTTP; the issuer's views translate them."""
from __future__ import annotations

import math


class KeyringError(Exception):
    """Base class of every keyring error."""


class KeyEncryptionKeyError(KeyringError):
    """The key-encryption key is missing or malformed."""


class KeySizeError(KeyringError):
    """The configured RSA key size is not 2048, 3072 or 4096."""


class SealedKeyError(KeyringError):
    """A sealed private key cannot be opened."""


class NoActiveKey(KeyringError):
    """The keyring has no active key; run `manage.py ensure_keys`."""


class UnknownKey(KeyringError):
    """No published key has this kid."""


class NextKeyNotReady(KeyringError):
    """The next key has not been published long enough for relying parties to have cached it."""

    def __init__(self, kid: str, published_for: float, max_age: int, wait: float) -> None:
        self.kid = kid
        self.published_for = published_for
        self.max_age = max_age
        self.wait = wait
        # Round the age down and the wait up: "run again in 0 s" that then refuses again misleads.
        super().__init__(
            f"next key {kid} has been published for {math.floor(published_for)} s; relying parties "
            f"may cache the JWKS for {max_age} s; run again in {math.ceil(wait)} s or pass --force"
        )


class RotationLost(KeyringError):
    """Another rotation changed the keyring first; this one did nothing."""
