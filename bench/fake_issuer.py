"""A stand-in issuer for the relying-party benchmarks: RSA keys, tokens shaped like Kunci's, and a JWKS server.

The relying party is measured as it runs in production, with no issuer code in the process; the
JWKS server counts every GET, so fetch counts are read at the server, not from the cache's stats.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://issuer.bench"
AUDIENCE = "kunci-apps"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class BenchKey:
    private: rsa.RSAPrivateKey
    kid: str

    @property
    def public(self) -> rsa.RSAPublicKey:
        return self.private.public_key()

    def jwk(self) -> dict[str, str]:
        numbers = self.public.public_numbers()
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}


def new_key(bits: int = 2048) -> BenchKey:
    """Return a fresh RSA key named by its RFC 7638 §3 thumbprint, as Kunci names its keys."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    numbers = private.public_key().public_numbers()
    canonical = json.dumps({"e": b64url_uint(numbers.e), "kty": "RSA", "n": b64url_uint(numbers.n)},
                           separators=(",", ":"), sort_keys=True)
    return BenchKey(private, b64url(hashlib.sha256(canonical.encode()).digest()))


def jwks(*keys: BenchKey) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def access_claims(user: int, now: float | None = None, lifetime: int = 3600) -> dict[str, Any]:
    """Return the claims of a Kunci access token for user number `user`."""
    now = int(now if now is not None else time.time())
    return {
        "iss": ISSUER, "aud": AUDIENCE, "sub": str(user), "user_id": str(user),
        "exp": now + lifetime, "iat": now, "jti": uuid.uuid4().hex, "token_type": "access",
        "sid": uuid.uuid4().hex, "username": f"user{user}", "email": f"user{user}@example.test",
    }


def sign_rs256(key: BenchKey, claims: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": kid or key.kid, "typ": "at+jwt"})


def sign_hs256(secret: str, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def shared_secret() -> str:
    return secrets.token_urlsafe(48)


class JWKSServer:
    """Serve one JWK Set on loopback from memory, with max-age and an ETag; count the GETs."""

    def __init__(self, document: dict[str, Any], *, max_age: int = 300, delay: float = 0.0) -> None:
        self.max_age = max_age
        self.delay = delay
        self.gets = 0
        self._lock = threading.Lock()
        self.set_document(document)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                with server._lock:
                    server.gets += 1
                    body, etag = server._body, server._etag
                if server.delay:
                    time.sleep(server.delay)
                not_modified = self.headers.get("If-None-Match") == etag
                if not_modified:
                    self.send_response(304)
                    self.send_header("Content-Length", "0")
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", f"public, max-age={server.max_age}")
                self.send_header("ETag", etag)
                self.end_headers()
                if not not_modified:
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="bench-jwks", daemon=True)

    def set_document(self, document: dict[str, Any]) -> None:
        body = json.dumps(document, separators=(",", ":")).encode()
        with self._lock:
            self._body = body
            self._etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    def __enter__(self) -> "JWKSServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
