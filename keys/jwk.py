"""Render RSA public keys as JWKs (RFC 7517/7518) and name them by thumbprint (RFC 7638).

Django-free on purpose: the crypto core takes keys as arguments and reads no settings.
"""
from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric import rsa

ALGORITHM = "RS256"


def b64url_uint(value: int) -> str:
    """Encode a non-negative integer as unpadded base64url of its minimal big-endian bytes (RFC 7518 §6.3.1)."""
    length = max(1, (value.bit_length() + 7) // 8)
    return base64.urlsafe_b64encode(value.to_bytes(length, "big")).rstrip(b"=").decode("ascii")


def rsa_thumbprint(n: str, e: str) -> str:
    """Return the RFC 7638 §3 thumbprint (SHA-256, base64url) of an RSA key given its JWK `n` and `e`."""
    # RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """Return the public JWK of an RSA key, with exactly the members kty, use, alg, kid, n and e."""
    numbers = public_key.public_numbers()
    n, e = b64url_uint(numbers.n), b64url_uint(numbers.e)
    return {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": rsa_thumbprint(n, e), "n": n, "e": e}


def public_key_from_jwk(jwk: dict[str, str]) -> rsa.RSAPublicKey:
    """Build an RSA public key object from a JWK's `n` and `e`."""
    n = int.from_bytes(_b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(_b64url_decode(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
