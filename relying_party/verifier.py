"""Verify Kunci tokens: PyJWT for the JWS, strict checks around it, and an LRU of results.

`TokenVerifier` reads no settings and imports neither Django nor requests: the key source, issuer,
audience, algorithms and the token *profile* are constructor arguments. A profile says which kind
of token a verifier accepts (its header `typ`, required claims, `token_type` and any rules of its
own), so no kind is ever taken for another. Relying parties verify access tokens and back-channel
logout tokens with it (their process wiring is in relying_party/state.py); the issuer verifies its
own access and refresh tokens with it, over its keyring, so both sides refuse a token with the same
code. A verifier given a `RevocationCheck` refuses the tokens of ended sessions, cached ones too.
"""
from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from relying_party.exceptions import (
    InvalidSetting,
    SessionEnded,
    TokenExpired,
    TokenInvalid,
    TokenMalformed,
    TokenNotYetValid,
    TokenRejected,
    TokenTooLarge,
    TokenWrongType,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
)

# Algorithms a verifier and a JWKS cache accept: RSA only, so a symmetric algorithm can never be
# fed an RSA public key as its HMAC secret (RFC 8725 §2.1, §3.1).
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


@dataclass(frozen=True)
class TokenProfile:
    """The kind of token a verifier accepts: header `typ`s, required claims and the `token_type` claim.

    `types` are lower case, the one Kunci writes first, and compared case-insensitively (media types,
    RFC 7515 §4.1.9); `token_type` None means the claim is not checked. `kind` names the token in the refusal ("an access token").
    `check`, when given, runs on the claims of a token that passed every other check and raises a
    TokenRejected for the rules only this kind has.
    """

    kind: str
    types: tuple[str, ...]
    required: tuple[str, ...]
    token_type: str | None
    check: Callable[[Mapping[str, Any]], None] | None = None

    def requiring(self, *claims: str) -> TokenProfile:
        """Return this profile with `claims` required as well."""
        return replace(self, required=tuple(dict.fromkeys((*self.required, *claims))))


# RFC 9068 §4: a resource server checks that typ is "at+jwt" or "application/at+jwt". A refresh
# token's typ differs, so it fails here even at a verifier that ignored `token_type`.
ACCESS = TokenProfile(
    kind="an access token",
    types=("at+jwt", "application/at+jwt"),
    required=("exp", "iat", "iss", "aud", "sub"),
    token_type="access",
)
# Kunci's refresh tokens: only the issuer verifies them, and only at its refresh and logout endpoints.
REFRESH = TokenProfile(
    kind="a refresh token",
    types=("refresh+jwt",),
    required=("exp", "iat", "iss", "aud", "sub", "jti", "sid"),
    token_type="refresh",
)
# OpenID Connect Back-Channel Logout 1.0 §2.4: the event a logout token announces.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Characters of a sid or sub that a logout token may name: both are kept in the revocation store.
MAX_LOGOUT_IDENTIFIER_CHARS = 255


def _check_logout_claims(claims: Mapping[str, Any]) -> None:
    """Apply the rules of Back-Channel Logout 1.0 §2.4 and §2.6 that PyJWT does not check."""
    events = claims.get("events")
    # §2.4: `events` is a JSON object whose backchannel-logout member is a JSON object.
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise TokenInvalid("Logout token has no backchannel-logout event")
    # §2.4: a sid, a sub, or both; each a string short enough to be recorded.
    named = [claims[name] for name in ("sid", "sub") if name in claims]
    if not named:
        raise TokenInvalid("Logout token names neither a sid nor a sub")
    if not all(isinstance(value, str) and 0 < len(value) <= MAX_LOGOUT_IDENTIFIER_CHARS for value in named):
        raise TokenInvalid("Logout token's sid and sub must be non-empty strings of at most 255 characters")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise TokenInvalid("Logout token's jti must be a non-empty string")
    # §2.4: a nonce is prohibited, so that a logout token can never pass for an id_token.
    if "nonce" in claims:
        raise TokenInvalid("Logout token must not carry a nonce")


# Back-Channel Logout 1.0 §2.4: the claims, and explicit typing with logout+jwt, so that an id_token
# or an access token is never taken for a logout token, nor the other way round (§4.1).
LOGOUT = TokenProfile(
    kind="a logout token",
    types=("logout+jwt", "application/logout+jwt"),
    required=("exp", "iat", "iss", "aud", "jti", "events"),
    token_type=None,
    check=_check_logout_claims,
)
_PYJWT_ERRORS: list[tuple[type[Exception], type[TokenRejected], str | None]] = [
    (jwt.InvalidAudienceError, WrongAudience, None),
    (jwt.InvalidIssuerError, WrongIssuer, None),
    (jwt.MissingRequiredClaimError, TokenInvalid, "Token lacks a required claim"),
    (jwt.InvalidAlgorithmError, TokenInvalid, "Token uses an algorithm this service does not accept"),
    (jwt.InvalidSignatureError, TokenInvalid, "Token signature is invalid"),
    (jwt.DecodeError, TokenMalformed, None),
    (jwt.InvalidTokenError, TokenInvalid, None),
]
_pyjwt = jwt.PyJWT()


class KeySource(Protocol):
    def get_key(self, kid: str) -> Any:
        """Return the public key named `kid`, or raise UnknownKey (or JWKSUnavailable)."""
        ...


class RevocationCheck(Protocol):
    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Return whether the verified token with these claims belongs to an ended session; never block."""
        ...


@dataclass(frozen=True)
class VerifiedToken:
    """A token that passed every check: its claims, the kid that signed it and when it expires."""

    claims: Mapping[str, Any]
    kid: str
    exp: float
    # The key that verified it: a cached result is reused only while the JWKS still serves this key.
    key: Any = field(repr=False, compare=False)

    @property
    def sub(self) -> str:
        return self.claims["sub"]

    def __getitem__(self, claim: str) -> Any:
        return self.claims[claim]

    def get(self, claim: str, default: Any = None) -> Any:
        return self.claims.get(claim, default)


class _VerifiedTokens:
    """A bounded LRU of raw token -> VerifiedToken; a short lock keeps OrderedDict consistent."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, VerifiedToken] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> VerifiedToken | None:
        if not self.size:
            return None
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
            return entry

    def put(self, token: str, entry: VerifiedToken) -> None:
        if not self.size:
            return
        with self._lock:
            self._entries[token] = entry
            self._entries.move_to_end(token)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)

    def __len__(self) -> int:
        return len(self._entries)


class TokenVerifier:
    """Verify tokens of one profile signed by one issuer's published RSA keys; read no settings."""

    def __init__(
        self,
        *,
        jwks: KeySource,
        issuer: str,
        audience: str | Sequence[str],
        algorithms: Iterable[str] = ("RS256",),
        leeway: float = 10,
        min_rsa_bits: int = 2048,
        max_token_bytes: int = 8192,
        verified_cache_size: int = 4096,
        max_token_lifetime: float = 3600,
        clock: Callable[[], float] = time.time,
        profile: TokenProfile = ACCESS,
        revocations: RevocationCheck | None = None,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise InvalidSetting(f"ISSUER must be the issuer's exact `iss`, a non-empty string; got {issuer!r}")
        audiences = [audience] if isinstance(audience, str) else list(audience or ())
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise InvalidSetting(f"AUDIENCE must be a non-empty string or list of strings, got {audience!r}")
        names = [algorithms] if isinstance(algorithms, str) else list(algorithms)
        if not names or any(name not in RSA_ALGORITHMS for name in names):
            raise InvalidSetting(f"ALGORITHMS must be drawn from {sorted(RSA_ALGORITHMS)}, got {names!r}")
        if isinstance(leeway, bool) or not isinstance(leeway, (int, float)) or not 0 <= leeway <= 300:
            raise InvalidSetting(f"LEEWAY must be a number of seconds in [0, 300], got {leeway!r}")
        if isinstance(max_token_lifetime, bool) or not isinstance(max_token_lifetime, (int, float)) or max_token_lifetime <= 0:
            raise InvalidSetting(f"MAX_TOKEN_LIFETIME must be a positive number of seconds, got {max_token_lifetime!r}")
        for name, value, minimum in (
            ("MIN_RSA_BITS", min_rsa_bits, 2048),
            ("MAX_TOKEN_BYTES", max_token_bytes, 256),
            ("VERIFIED_CACHE_SIZE", verified_cache_size, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InvalidSetting(f"{name} must be an integer >= {minimum}, got {value!r}")
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audiences[0] if len(audiences) == 1 else audiences
        self.algorithms = names
        self.leeway = float(leeway)
        self.max_token_lifetime = float(max_token_lifetime)
        self.min_rsa_bits = min_rsa_bits
        self.max_token_bytes = max_token_bytes
        self.profile = profile
        self.revocations = revocations
        self._verified = _VerifiedTokens(verified_cache_size)
        self._clock = clock
        # Header segment -> parsed header, of verified tokens only (see _unverified_header).
        self._headers_seen: dict[str, Mapping[str, Any]] = {}
        # Time claims are checked here, against the clock; PyJWT checks iss, aud and the rest.
        self._pyjwt_options = {
            "require": list(profile.required),
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }

    def verify(self, token: str, *, now: float | None = None) -> VerifiedToken:
        """Return the verified token `token`; raise a TokenRejected subclass saying why not.

        `now` (seconds since the epoch) overrides the verifier's clock for this one call.
        """
        now = self._clock() if now is None else now
        if not isinstance(token, str):
            raise TokenMalformed("Token must be a string")
        # Refused before any parsing or crypto: size is the one check that costs nothing.
        if len(token) > self.max_token_bytes:
            raise TokenTooLarge(f"Token is larger than {self.max_token_bytes} bytes")
        # Looked up before the shape check below, which costs more than the rest of a hit: the LRU
        # holds only strings that passed every check.
        cached = self._verified.get(token)
        if cached is not None:
            # Rule 6: a repeated token costs a lookup, for as long as it is unexpired and its key
            # is still published (get_key answers from memory; it refetches only for an unknown kid).
            if now < cached.exp and self._current_key(cached.kid) is cached.key:
                self._refuse_if_revoked(cached)
                return cached
            self._verified.discard(token)
        # RFC 7515 §7.1: three segments of unpadded base64url (RFC 7515 §2). One C-speed match;
        # PyJWT tolerates '=', which would let two strings carry one signature.
        if not _COMPACT_JWS.fullmatch(token):
            raise TokenMalformed()
        verified = self._verify_uncached(token, now)
        self._verified.put(token, verified)
        # After the signature: whether a session ended is never told about a token that does not verify.
        self._refuse_if_revoked(verified)
        return verified

    def _refuse_if_revoked(self, verified: VerifiedToken) -> None:
        revocations = self.revocations
        if revocations is not None and revocations.is_revoked(verified.claims):
            raise SessionEnded()

    def cached_count(self) -> int:
        """Return how many verified tokens the LRU holds."""
        return len(self._verified)

    def _current_key(self, kid: str) -> Any:
        try:
            return self.jwks.get_key(kid)
        except UnknownKey:
            return None

    def _verify_uncached(self, token: str, now: float) -> VerifiedToken:
        header = self._unverified_header(token)
        # The header is attacker-controlled until the signature checks out. jku, x5u, jwk and x5c
        # are never read: keys come only from the configured JWKS (RFC 8725 §3.10).
        typ = header.get("typ")
        # RFC 8725 §3.11: explicit typing, so that no kind of token is accepted as another.
        if not isinstance(typ, str) or typ.lower() not in self.profile.types:
            # Never echo the header back: it is attacker text and would land in WWW-Authenticate.
            raise TokenWrongType(f"Token is not {self.profile.kind} (typ must be {self.profile.types[0]})")
        # The algorithm is checked against settings before any key is fetched (RFC 8725 §3.1).
        if header.get("alg") not in self.algorithms:
            raise TokenInvalid("Token uses an algorithm this service does not accept")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenInvalid("Token has no kid")
        key = self.jwks.get_key(kid)
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < self.min_rsa_bits:
            raise TokenInvalid(f"Token's key is not an RSA key of at least {self.min_rsa_bits} bits")
        try:
            claims = _pyjwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options=self._pyjwt_options,
            )
        except jwt.InvalidTokenError as e:
            rejection, description = next((r, d) for cls, r, d in _PYJWT_ERRORS if isinstance(e, cls))
            raise rejection(description) from e
        except (TypeError, ValueError, OverflowError, RecursionError) as e:
            raise TokenMalformed() from e
        exp = self._check_times(claims, now)
        if self.profile.token_type is not None and claims.get("token_type") != self.profile.token_type:
            raise TokenWrongType(f"Token is not {self.profile.kind}")
        if self.profile.check is not None:
            self.profile.check(claims)
        self._remember_header(token, header)
        return VerifiedToken(MappingProxyType(claims), kid, exp, key)

    def _check_times(self, claims: Mapping[str, Any], now: float) -> float:
        """Check exp, nbf and iat (RFC 7519 §4.1.4-4.1.6) with the leeway at `now`; return exp."""
        exp, iat = _numeric_date(claims, "exp"), _numeric_date(claims, "iat")
        nbf = _numeric_date(claims, "nbf") if "nbf" in claims else None
        if exp <= now - self.leeway:
            raise TokenExpired()
        # A token that lives longer than any the issuer mints was not minted by it as
        # configured; refusing it also bounds how long a verified token can stay cached.
        if exp > now + self.max_token_lifetime + self.leeway:
            raise TokenInvalid("Token expires further ahead than MAX_TOKEN_LIFETIME allows")
        if nbf is not None and nbf > now + self.leeway:
            raise TokenNotYetValid()
        if iat > now + self.leeway:
            raise TokenNotYetValid("Token was issued in the future")
        return exp

    def _unverified_header(self, token: str) -> Mapping[str, Any]:
        """Parse only the header segment; a header already seen on a verified token is not parsed again.

        PyJWT's get_unverified_header() decodes and validates all three segments, and decode() then
        does it all again; the header alone is enough to pick the key, and every token of one key
        carries the same header. decode() still validates the whole token before anything is trusted.
        """
        segment = token.partition(".")[0]
        header = self._headers_seen.get(segment)
        if header is not None:
            return header
        try:
            parsed = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        except (ValueError, TypeError, RecursionError) as e:  # binascii.Error and JSONDecodeError are ValueErrors
            raise TokenMalformed() from e
        if not isinstance(parsed, dict):
            raise TokenMalformed("Token header is not a JSON object")
        return MappingProxyType(parsed)

    def _remember_header(self, token: str, header: Mapping[str, Any]) -> None:
        # Only headers of verified tokens, so junk cannot fill it; one per key, so it rarely fills
        # at all, and when years of rotations do, it starts over. A lost race costs one parse.
        if len(self._headers_seen) >= _HEADERS_SEEN_MAX:
            self._headers_seen.clear()
        self._headers_seen[token.partition(".")[0]] = header


_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_HEADERS_SEEN_MAX = 64

def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    # RFC 7519 §2: a NumericDate is a JSON number; bools, strings and infinities are not.
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TokenInvalid(f"Token's {name} is not a NumericDate")
    return float(value)


def bearer_token(parts: Sequence[bytes], *, max_token_bytes: int) -> str:
    """Return the token of an `Authorization: Bearer <token>` header split on whitespace (RFC 6750 §2.1).

    `parts` holds at least the scheme; a header with no token, more than one, or one that is not
    ASCII is malformed, and an oversize one is refused before it is decoded.
    """
    if len(parts) != 2:
        raise TokenMalformed("Authorization header must be 'Bearer <token>'")
    if len(parts[1]) > max_token_bytes:
        raise TokenTooLarge(f"Token is larger than {max_token_bytes} bytes")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError as e:
        raise TokenMalformed("Token is not ASCII") from e
