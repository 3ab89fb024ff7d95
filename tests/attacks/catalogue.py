"""The attack catalogue: hostile tokens from RFC 8725, the PyJWT advisories and common mistakes,
and hostile request bodies.

Each token entry builds one token from a `Forge`, which holds a valid token pair and the issuer's
keys. The issuer and the relying party verify with one verifier, so both must refuse every entry
with 401 and the entry's one code.
Each body entry (BODY_CATALOGUE) is sent to every endpoint of both services; those that read a
body must refuse it with its status and a JSON `{detail, code}`, and none may answer 5xx.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.urls import URLPattern, URLResolver, get_resolver, reverse

_ATTACKER_KEY = rsa.generate_private_key(65537, 2048)

# Not a compact JWS at all: the wrong shape, bad base64url or JSON (RFC 7515 §7.1).
MALFORMED = "token_malformed"
# A well-formed JWS that fails a check: algorithm, kid, signature, a required or numeric claim.
INVALID = "token_invalid"
UNKNOWN_KEY = "unknown_key"
EXPIRED = "token_expired"
TOO_EARLY = "token_not_yet_valid"
WRONG_ISSUER = "wrong_issuer"
WRONG_AUDIENCE = "wrong_audience"
WRONG_TYPE = "token_wrong_type"
TOO_LARGE = "token_too_large"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


@dataclass
class Forge:
    """What an attacker can get: valid tokens, the issuer's public key, and keys of their own.

    `issuer_key`/`kid` stand for a trusted signer, used only for entries about claims the issuer
    would never sign (a wrong `aud`, a past `exp`): the verifier must check claims, not just keys.
    """

    access: str
    refresh: str
    issuer: str
    audience: str
    issuer_key: rsa.RSAPrivateKey
    kid: str
    revoked_token: str = ""
    purged_token: str = ""
    # The `typ` of the token under attack: at+jwt, or refresh+jwt when forging refresh tokens.
    typ: str = "at+jwt"
    attacker_key: rsa.RSAPrivateKey = field(default_factory=lambda: _ATTACKER_KEY)

    @property
    def public_pem(self) -> bytes:
        return self.issuer_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_der(self) -> bytes:
        return self.issuer_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_jwk(self) -> str:
        return json.dumps(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.issuer_key.public_key())))

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Return the valid access token's claims with `changes` (None deletes a claim)."""
        payload = jwt.decode(self.access, options={"verify_signature": False})
        for name, value in changes.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return payload

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {"alg": "RS256", "kid": self.kid, "typ": self.typ}
        for name, value in changes.items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
        return header

    def sign(self, claims: dict[str, Any] | None = None, key: Any = None, algorithm: str = "RS256", **header: Any) -> str:
        """Sign `claims` with `key` (the trusted key by default) and the given header changes."""
        full_header = self.header(**header)
        claims = claims if claims is not None else self.claims()
        key = key if key is not None else self.issuer_key
        if algorithm != "RS256":
            full_header.pop("alg", None)
            return jwt.encode(claims, key, algorithm=algorithm, headers=full_header)
        # By hand for RS256: PyJWT refuses to write the malformed headers some entries need.
        signing_input = f"{b64json(full_header)}.{b64json(claims)}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"

    def unsigned(self, alg: str, with_signature: bool) -> str:
        header, payload, signature = self.access.split(".")
        forged_header = b64json({**self.header(), "alg": alg})
        return f"{forged_header}.{payload}.{signature if with_signature else ''}"

    def hmac(self, algorithm: str, secret: bytes | str) -> str:
        """Sign with the issuer's *public* key as an HMAC secret (the classic algorithm confusion)."""
        # By hand: PyJWT itself refuses to use a PEM public key as an HMAC secret.
        header = b64json({**self.header(), "alg": algorithm})
        payload = self.access.split(".")[1]
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[algorithm]
        key = secret.encode() if isinstance(secret, str) else secret
        signature = hmac.new(key, f"{header}.{payload}".encode(), digest).digest()
        return f"{header}.{payload}.{b64(signature)}"

    def attacker_signed(self, **header: Any) -> str:
        """Sign a valid-looking token with the attacker's key, with header pointers to that key."""
        return self.sign(key=self.attacker_key, kid="attacker", **header)

    @property
    def attacker_jwk(self) -> dict[str, Any]:
        return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.attacker_key.public_key()))


def _replace_segment(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


@dataclass(frozen=True)
class Attack:
    name: str
    build: Callable[[Forge], str]
    code: str
    # False for entries that only make sense against an access-token endpoint.
    applies_to_refresh: bool = True


ATTACKER_URL = "https://attacker.example/keys.json"
_ec = ec.generate_private_key(ec.SECP256R1())

CATALOGUE: list[Attack] = [
    # alg "none" in four spellings, with and without a signature (RFC 8725 §2.1, §3.1).
    *[
        Attack(f"alg {alg} {'with' if signed else 'without'} signature", lambda f, a=alg, s=signed: f.unsigned(a, s), INVALID)
        for alg in ("none", "None", "NONE", "nOnE")
        for signed in (False, True)
    ],
    # HMAC keyed with the RSA public key (RFC 8725 §2.1; CVE-2022-29217).
    *[
        Attack(f"{alg} keyed with the public key as {form}", lambda f, a=alg, fm=form: f.hmac(a, getattr(f, fm)), INVALID)
        for alg in ("HS256", "HS384", "HS512")
        for form in ("public_pem", "public_der", "public_jwk")
    ],
    # Algorithms other than the one configured (RFC 8725 §3.1).
    Attack("RS512 with the issuer's key", lambda f: f.sign(algorithm="RS512"), INVALID),
    Attack("PS256 with the issuer's key", lambda f: f.sign(algorithm="PS256"), INVALID),
    Attack("ES256 with an EC key", lambda f: f.sign(key=_ec, algorithm="ES256"), INVALID),
    # kid: missing, unknown, hostile (RFC 8725 §3.10).
    Attack("missing kid", lambda f: f.sign(kid=None), INVALID),
    Attack("unknown kid", lambda f: f.sign(kid="unknown-kid-0000"), UNKNOWN_KEY),
    Attack("kid with path traversal", lambda f: f.sign(kid="../../../../etc/passwd"), UNKNOWN_KEY),
    Attack("kid with SQL", lambda f: f.sign(kid="' OR '1'='1' --"), UNKNOWN_KEY),
    Attack("kid of 10 KB", lambda f: f.sign(kid="k" * 10_000), TOO_LARGE),
    Attack("kid that is a number", lambda f: f.sign(kid=12345), INVALID),
    Attack("kid that is a list", lambda f: f.sign(kid=[f.kid]), INVALID),
    Attack("kid that is an object", lambda f: f.sign(kid={"$ne": ""}), INVALID),
    # Key-carrying headers pointing at the attacker's key: never fetched, never trusted.
    Attack("jku to the attacker's JWKS", lambda f: f.attacker_signed(jku=ATTACKER_URL), UNKNOWN_KEY),
    Attack("x5u to the attacker's certificate", lambda f: f.attacker_signed(x5u=ATTACKER_URL), UNKNOWN_KEY),
    Attack("embedded jwk of the attacker", lambda f: f.attacker_signed(jwk=f.attacker_jwk), UNKNOWN_KEY),
    Attack("x5c chain of the attacker", lambda f: f.attacker_signed(x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]), UNKNOWN_KEY),
    Attack("jku with the issuer's kid", lambda f: f.sign(key=f.attacker_key, jku=ATTACKER_URL), INVALID),
    # Tampering with a valid token.
    Attack("tampered header", lambda f: _replace_segment(f.access, 0, b64json({**f.header(), "x": 1})), INVALID),
    Attack("tampered payload", lambda f: _replace_segment(f.access, 1, b64json(f.claims(sub="0", username="admin"))), INVALID),
    Attack("stripped signature", lambda f: _replace_segment(f.access, 2, ""), INVALID),
    Attack("another token's signature", lambda f: _replace_segment(f.access, 2, f.refresh.split(".")[2]), INVALID),
    Attack("truncated to two segments", lambda f: ".".join(f.access.split(".")[:2]), MALFORMED),
    Attack("an extra segment", lambda f: f.access + ".AAAA", MALFORMED),
    Attack("non-base64url characters", lambda f: _replace_segment(f.access, 1, "eyJ*&^%$#@!" + f.access.split(".")[1][11:]), MALFORMED),
    Attack("base64 padding", lambda f: ".".join(part + "==" for part in f.access.split(".")), MALFORMED),
    Attack("a payload that is a JSON array", lambda f: jwt.api_jws.encode(b'["sub", "admin"]', f.issuer_key, "RS256", headers=f.header()), MALFORMED),
    Attack("two segments of junk", lambda f: "abc.def", MALFORMED),
    Attack("five-part JWE shape", lambda f: ".".join([b64json({"alg": "RSA-OAEP", "enc": "A256GCM"}), "AAAA", "AAAA", "AAAA", "AAAA"]), MALFORMED),
    # An empty refresh field is a missing field (400), so this one is for bearer endpoints only.
    Attack("empty string", lambda f: "", MALFORMED, applies_to_refresh=False),
    Attack("a token over 8 KB", lambda f: f.sign(f.claims(padding="x" * 9000)), TOO_LARGE),
    # Time claims (RFC 7519 §4.1.4, §4.1.5, §4.1.6).
    Attack("exp in the past", lambda f: f.sign(f.claims(exp=int(time.time()) - 3600)), EXPIRED),
    Attack("exp missing", lambda f: f.sign(f.claims(exp=None)), INVALID),
    Attack("exp not a number", lambda f: f.sign(f.claims(exp="tomorrow")), INVALID),
    Attack("exp absurdly large", lambda f: f.sign(f.claims(exp=10**30)), INVALID),
    Attack("nbf in the future", lambda f: f.sign(f.claims(nbf=int(time.time()) + 3600)), TOO_EARLY),
    Attack("iat in the future", lambda f: f.sign(f.claims(iat=int(time.time()) + 3600)), TOO_EARLY),
    # Issuer and audience (RFC 8725 §3.8, §3.9).
    Attack("a wrong iss", lambda f: f.sign(f.claims(iss="https://evil.example")), WRONG_ISSUER),
    Attack("an iss that extends ours", lambda f: f.sign(f.claims(iss=f.issuer + ".evil")), WRONG_ISSUER),
    Attack("iss missing", lambda f: f.sign(f.claims(iss=None)), INVALID),
    Attack("a wrong aud", lambda f: f.sign(f.claims(aud="another-app")), WRONG_AUDIENCE),
    Attack("an aud list without ours", lambda f: f.sign(f.claims(aud=["a", "b"])), WRONG_AUDIENCE),
    Attack("aud missing", lambda f: f.sign(f.claims(aud=None)), INVALID),
    # Token confusion (RFC 8725 §3.11, RFC 9068 §2.1).
    Attack("a refresh token as an access token", lambda f: f.refresh, WRONG_TYPE, applies_to_refresh=False),
    Attack("typ of a refresh token on access claims", lambda f: f.sign(typ="refresh+jwt"), WRONG_TYPE, applies_to_refresh=False),
    Attack("typ missing", lambda f: f.sign(typ=None), WRONG_TYPE, applies_to_refresh=False),
    Attack("token_type refresh under at+jwt", lambda f: f.sign(f.claims(token_type="refresh")), WRONG_TYPE, applies_to_refresh=False),
    # Keys that have left the keyring.
    Attack("signed by a revoked key", lambda f: f.revoked_token, UNKNOWN_KEY),
    Attack("signed by a purged key", lambda f: f.purged_token, UNKNOWN_KEY),
]


@dataclass(frozen=True)
class BodyAttack:
    name: str
    content_type: str
    body: bytes
    status: int
    # The code the parser gives; None where the field validation of each endpoint words it.
    code: str | None = None


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def _json(value: str) -> bytes:
    """A body with every field some endpoint reads, so that the hostile part is what gets judged."""
    return f'{{"username": "alice", "password": "x", "refresh": "x", {value}}}'.encode()


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

BODY_CATALOGUE: list[BodyAttack] = [
    # Nesting: DRF's parser recursed until RecursionError; 2 KB of brackets was enough.
    BodyAttack("JSON nested 1,000 levels at the top level", JSON, _nested(1000).encode(), 400, "parse_error"),
    BodyAttack("JSON objects nested 1,000 levels", JSON, ('{"a":' * 1000 + "1" + "}" * 1000).encode(), 400, "parse_error"),
    BodyAttack("JSON nested 1,000 levels inside an extra field", JSON, _json(f'"extra": {_nested(1000)}'), 400, "parse_error"),
    BodyAttack("JSON nested 30,000 levels, just under the size cap", JSON, _nested(30_000).encode(), 400, "parse_error"),
    BodyAttack("JSON nested 33 levels, one past the limit", JSON, _json(f'"extra": {_nested(32)}'), 400, "parse_error"),
    # Forms: Django's TooManyFieldsSent escaped DRF's parser.
    BodyAttack("1,000 form fields", FORM, "&".join(f"f{i}=x" for i in range(1000)).encode(), 400, "parse_error"),
    BodyAttack(
        "101 form fields, the real ones among them", FORM,
        ("username=alice&password=x&refresh=x&" + "&".join(f"f{i}=x" for i in range(98))).encode(), 400, "parse_error",
    ),
    # Values the decoder refuses.
    BodyAttack("NaN where a string belongs", JSON, b'{"username": NaN, "password": NaN, "refresh": NaN}', 400, "parse_error"),
    BodyAttack("an integer of 5,000 digits", JSON, _json('"extra": ' + "9" * 5000), 400, "parse_error"),
    BodyAttack("invalid UTF-8", JSON, b'{"username": "\xff\xfe", "password": "x", "refresh": "\xff"}', 400, "parse_error"),
    BodyAttack("a charset that decompresses", f"{JSON}; charset=bz2_codec", _json('"extra": 1'), 400, "parse_error"),
    # Values the decoder accepts and the fields refuse.
    BodyAttack("a NUL character in every field", JSON, b'{"username": "a\\u0000", "password": "\\u0000", "refresh": "\\u0000"}', 400),
    BodyAttack("a lone surrogate in every field", JSON, b'{"username": "\\ud800", "password": "\\ud800", "refresh": "\\ud800"}', 400),
    BodyAttack("a JSON array instead of an object", JSON, b"[]", 400),
    BodyAttack("fields that are objects", JSON, b'{"username": {"$ne": ""}, "password": {"$ne": ""}, "refresh": {"$ne": ""}}', 400),
    # Size and media type.
    BodyAttack("a body over the 64 KB cap", JSON, _json(f'"extra": "{"x" * 70_000}"'), 413, "request_too_large"),
    BodyAttack("a media type no parser takes", "text/plain", b"username=alice", 415, "unsupported_media_type"),
    BodyAttack("a multipart body", "multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=username\r\n\r\nalice\r\n--b--\r\n", 415, "unsupported_media_type"),
]


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    # The methods of its view that can carry a body; empty when it has none.
    body_methods: tuple[str, ...]


def routes(urlconf: str) -> list[Route]:
    """Return every named route of `urlconf`, read from the URLconf so that new endpoints are included."""
    found: list[Route] = []

    def walk(patterns: list[Any], namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver) and pattern.namespace == "admin":
                continue  # Django's admin: HTML forms behind a staff session, not the JSON API
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                view_class = getattr(pattern.callback, "view_class", None)  # set by View.as_view()
                # A function view could read a body with any method: treat it as one that does.
                methods = ("post", "put", "patch") if view_class is None else tuple(
                    method for method in ("post", "put", "patch") if hasattr(view_class, method)
                )
                name = f"{namespace}{pattern.name}"
                found.append(Route(name, reverse(name, urlconf=urlconf), methods))

    walk(get_resolver(urlconf).url_patterns, "")
    return found


def assert_hostile_body_answered(response: Any, attack: BodyAttack, route: Route, ignores_body: bool) -> None:
    """No 5xx anywhere; where the body is read, the attack's own status and a JSON `{detail, code}`."""
    where = (attack.name, route.name, response.status_code, response.content[:200])
    assert response.status_code < 500, where
    if route.body_methods and not ignores_body:
        assert response.status_code == attack.status, where
        assert response["Content-Type"] == "application/json", where
        body = json.loads(response.content)
        assert set(body) >= {"detail", "code"}, where
        if attack.code is not None:
            assert body["code"] == attack.code, where
