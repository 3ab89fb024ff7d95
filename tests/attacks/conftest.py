import itertools

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

_POOL = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(8)]


@pytest.fixture(autouse=True)
def _pooled_rsa_keys(monkeypatch):
    """Hand the keyring pre-generated keys: each catalogue test builds a four-key history."""
    pool = itertools.cycle(_POOL)
    monkeypatch.setattr("keys.keyring.rsa.generate_private_key", lambda public_exponent, key_size: next(pool))
