"""A fake issuer for the relying party's tests: RSA keys, JWK Sets and signed tokens.

Written here rather than imported from keys/ or idp/: the relying party is tested as it runs,
with no issuer code in the process.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://issuer.test"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
AUDIENCE = "kunci-apps"
# A fixed, realistic epoch second: the fake clock starts here for the JWKS cache and the verifier.
T0 = 1_800_000_000.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(value: int) -> str:
    return b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


@dataclass(frozen=True)
class SigningKey:
    private: rsa.RSAPrivateKey
    kid: str

    @property
    def public(self) -> rsa.RSAPublicKey:
        return self.private.public_key()

    def jwk(self, **overrides: Any) -> dict[str, Any]:
        numbers = self.public.public_numbers()
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}
        jwk.update(overrides)
        return {name: value for name, value in jwk.items() if value is not None}

    def public_pem(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@lru_cache(maxsize=None)
def signing_key(name: str, bits: int = 2048) -> SigningKey:
    """Return the test key called `name` (generated once per run), named by its RFC 7638 thumbprint."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    numbers = private.public_key().public_numbers()
    canonical = json.dumps(
        {"e": b64url_uint(numbers.e), "kty": "RSA", "n": b64url_uint(numbers.n)}, separators=(",", ":"), sort_keys=True
    )
    return SigningKey(private, b64url(hashlib.sha256(canonical.encode()).digest()))


def jwks(*keys: SigningKey | dict[str, Any]) -> dict[str, Any]:
    return {"keys": [key.jwk() if isinstance(key, SigningKey) else key for key in keys]}


def access_claims(now: float = T0, **overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "42",
        "user_id": "42",
        "exp": int(now) + 300,
        "iat": int(now),
        "jti": uuid.uuid4().hex,
        "token_type": "access",
        "sid": "session-1",
        "username": "alice",
        "email": "alice@example.test",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(key: SigningKey, claims: dict[str, Any] | None = None, **headers: Any) -> str:
    """Return a token signed RS256 by `key`; headers default to Kunci's access token header."""
    header = {"kid": key.kid, "typ": "at+jwt", **headers}
    header = {name: value for name, value in header.items() if value is not None}
    return jwt.encode(claims if claims is not None else access_claims(), key.private, algorithm="RS256", headers=header)


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """Return a compact JWS with exactly this header and signature, for tokens PyJWT would not make."""
    segments = [b64url(json.dumps(part).encode()) for part in (header, claims)]
    return ".".join([*segments, b64url(signature)])


def rsa_sign(key: SigningKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Return a compact JWS signed RS256 by `key` with exactly this header (no defaults added)."""
    signing_input = ".".join(b64url(json.dumps(part).encode()) for part in (header, claims))
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


CLIENT_ID = "app1-client"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_claims(now: float = T0, **overrides: Any) -> dict[str, Any]:
    """Return the claims of a logout token for CLIENT_ID (Back-Channel Logout 1.0 §2.4); None deletes one."""
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": int(now),
        "exp": int(now) + 120,
        "jti": uuid.uuid4().hex,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "sid": "session-1",
        "sub": "42",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign_logout(key: SigningKey, claims: dict[str, Any] | None = None, **headers: Any) -> str:
    """Return a logout token signed by `key`, typed logout+jwt unless `headers` say otherwise."""
    return sign(key, claims if claims is not None else logout_claims(), **{"typ": "logout+jwt", **headers})
