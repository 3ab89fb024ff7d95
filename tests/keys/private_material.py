"""The private key material of a keyring, as text, so that tests can assert it appears nowhere."""
from __future__ import annotations

import base64
import html
from collections.abc import Iterable

from cryptography.hazmat.primitives.serialization import load_der_private_key

from keys import sealing
from keys.jwk import b64url_uint

# JSON members of a private RSA JWK (RFC 7518 §6.3.2): a response that names one leaks a key.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")


def private_material(rows: Iterable[tuple[str, bytes]], key_encryption_key: str) -> list[str]:
    """Return the secrets of each (kid, sealed private key) row, in every form a page or log could show.

    The unsealed private numbers in base64url (as a JWK would carry them), and the sealed blob as
    base64, base64url, hex and Python's escaped bytes repr (how the admin would display the field).
    """
    kek = sealing.parse_key_encryption_key(key_encryption_key)
    found: list[str] = []
    for kid, sealed in rows:
        sealed = bytes(sealed)
        numbers = load_der_private_key(sealing.unseal(kek, sealed, kid.encode()), None).private_numbers()
        for value in (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp):
            found.append(b64url_uint(value))
        found += [
            base64.b64encode(sealed).decode(),
            base64.urlsafe_b64encode(sealed).decode(),
            sealed.hex(),
            html.escape(repr(sealed)[2:]),
        ]
    assert found, "the keyring holds no private keys to look for"
    return found


def leaked(text: str, material: list[str]) -> list[str]:
    """Return the pieces of `material` whose first 40 characters appear in `text`."""
    return [value for value in material if value[:40] in text]
