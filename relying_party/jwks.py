"""The issuer's JWK Set (RFC 7517 §5), cached per process under the six rules of DESIGN.md.

Hand-written on purpose: no library follows all six rules. PyJWKClient has no single-flight fetch,
no negative cache, no stale serving on failure and ignores Cache-Control max-age; panva/jose's
remote JWKS (the model here) is JavaScript. Django-free: every option, the clock and the HTTP
session come in through the constructor, so tests build it directly and never touch the network.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from relying_party.exceptions import InvalidSetting, JWKSUnavailable, UnknownKey
from relying_party.verifier import RSA_ALGORITHMS

logger = logging.getLogger("kunci.relying_party")

# RFC 7515 §2: base64url without padding.
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_AGE = re.compile(r'^max-age\s*=\s*"?(\d+)"?$')
# Negative answers are kept per key set; a flood of random kids cannot grow memory past this.
_MAX_NEGATIVE_ENTRIES = 1024
# Failed fetches back off from 1 second, doubling up to max_backoff (cold_max_backoff while no
# usable key set is held).
_FIRST_BACKOFF = 1.0


class JWKSDocumentError(Exception):
    """A fetched JWK Set was refused: bad status, too big, not JSON, or no usable key."""


def _start_daemon_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="kunci-jwks-refresh", daemon=True).start()


@dataclass(frozen=True)
class _KeySet:
    """One fetched key set; replaced whole, never mutated, so readers need no lock."""

    keys: Mapping[str, rsa.RSAPublicKey]
    members: Mapping[str, tuple[str, str]]  # kid -> (n, e): lets a refresh reuse unchanged key objects
    fetched_at: float
    refresh_at: float
    expires_at: float
    etag: str | None
    # Kids a fetch of this set confirmed missing (rule 2); dropped with the set.
    missing: dict[str, None] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class JWKSStats:
    """A snapshot of the cache's counters, for tests, health checks and benchmarks."""

    fetches: int
    failures: int
    not_modified: int
    kids: tuple[str, ...]
    fetched_at: float | None
    refresh_at: float | None
    expires_at: float | None
    last_error: str


class _Flight:
    """One fetch in progress; every caller that needs it waits on `done`."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class JWKSCache:
    """Map a kid to the issuer's RSA public key, fetching the JWK Set rarely, once, and safely."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str] = ("RS256",),
        min_cache_ttl: float = 60,
        max_cache_ttl: float = 3600,
        refresh_ahead: float = 0.1,
        refetch_cooldown: float = 30,
        max_stale: float = 3600,
        max_backoff: float = 300,
        cold_max_backoff: float = 5,
        fetch_timeout: float = 5,
        max_jwks_bytes: int = 64 * 1024,
        min_rsa_bits: int = 2048,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        run_in_background: Callable[[Callable[[], None]], None] = _start_daemon_thread,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise InvalidSetting(f"JWKS_URL must be an http(s) URL, got {url!r}")
        self.url = url
        self.algorithms = frozenset(_algorithms(algorithms))
        self._min_ttl = _seconds("MIN_CACHE_TTL", min_cache_ttl, minimum=0)
        self._max_ttl = _seconds("MAX_CACHE_TTL", max_cache_ttl, minimum=max(self._min_ttl, 1))
        if not isinstance(refresh_ahead, (int, float)) or not 0 <= refresh_ahead < 1:
            raise InvalidSetting(f"REFRESH_AHEAD must be a fraction of the TTL in [0, 1), got {refresh_ahead!r}")
        self._refresh_ahead = float(refresh_ahead)
        self._cooldown = _seconds("REFETCH_COOLDOWN", refetch_cooldown, minimum=0)
        self._max_stale = _seconds("MAX_STALE", max_stale, minimum=0)
        self._max_backoff = _seconds("MAX_BACKOFF", max_backoff, minimum=_FIRST_BACKOFF)
        # While no usable set is held every request answers 503, so backing off protects nobody: retry
        # on a short cap, never longer than the warm one.
        self._cold_max_backoff = min(
            _seconds("COLD_MAX_BACKOFF", cold_max_backoff, minimum=_FIRST_BACKOFF), self._max_backoff
        )
        self._timeout = _seconds("FETCH_TIMEOUT", fetch_timeout, minimum=0.001)
        self._max_bytes = _count("MAX_JWKS_BYTES", max_jwks_bytes, minimum=256)
        self._min_rsa_bits = _count("MIN_RSA_BITS", min_rsa_bits, minimum=2048)
        self._session = session if session is not None else requests.Session()
        self._clock = clock
        self._run_in_background = run_in_background

        self._keyset: _KeySet | None = None
        self._lock = threading.Lock()  # guards the fields below, never held during a fetch
        self._flight: _Flight | None = None
        self._last_attempt: float | None = None
        self._next_attempt_at = -math.inf
        self._consecutive_failures = 0
        self._fetches = 0
        self._failures = 0
        self._not_modified = 0
        self._last_error = ""

    def get_key(self, kid: str) -> rsa.RSAPublicKey:
        """Return the public key named `kid`; raise UnknownKey, or JWKSUnavailable when no set is usable."""
        now = self._clock()
        keyset = self._keyset
        # `_usable`, inlined: the hot path makes no call before its dict lookup.
        if keyset is not None and now < keyset.expires_at + self._max_stale:
            # Rule 1: the hot path is an attribute read, a compare and a dict lookup.
            if now >= keyset.refresh_at:
                self._refresh_in_background(now)
                keyset = self._keyset or keyset  # the new set, if the refresh already finished
            key = keyset.keys.get(kid)
            if key is not None:
                return key
            return self._key_after_refetch(kid, keyset, now)
        # Rule 3: a cold start, or a last good set past its stale cap, must fetch before answering.
        flight = self._join_or_start(now, cooldown=False)
        fetched = flight is not None and self._wait(flight)
        keyset = self._keyset
        now = self._clock()
        if not self._usable(keyset, now):
            raise JWKSUnavailable(self._retry_after(now), self._last_error or "no key set fetched yet")
        key = keyset.keys.get(kid)
        if key is not None:
            return key
        if fetched:
            self._remember_missing(keyset, kid)
        raise UnknownKey()

    def refresh(self) -> bool:
        """Fetch the key set now (sharing any fetch in flight, ignoring the cooldown); return success."""
        flight = self._join_or_start(self._clock(), cooldown=False, ignore_backoff=True)
        return flight is not None and self._wait(flight)

    def stats(self) -> JWKSStats:
        """Return the counters and the current key set's timing."""
        keyset = self._keyset
        return JWKSStats(
            fetches=self._fetches,
            failures=self._failures,
            not_modified=self._not_modified,
            kids=tuple(sorted(keyset.keys)) if keyset else (),
            fetched_at=keyset.fetched_at if keyset else None,
            refresh_at=keyset.refresh_at if keyset else None,
            expires_at=keyset.expires_at if keyset else None,
            last_error=self._last_error,
        )

    def _usable(self, keyset: _KeySet | None, now: float) -> bool:
        """Return whether `keyset` may still answer: held, and not past its stale cap (rule 3)."""
        return keyset is not None and now < keyset.expires_at + self._max_stale

    # Rule 2: unknown kids.

    def _key_after_refetch(self, kid: str, keyset: _KeySet, now: float) -> rsa.RSAPublicKey:
        if kid in keyset.missing:
            raise UnknownKey()
        flight = self._join_or_start(now, cooldown=True)
        if flight is None:
            raise UnknownKey()
        fetched = self._wait(flight)
        current = self._keyset
        key = current.keys.get(kid) if current is not None else None
        if key is not None:
            return key
        if fetched and current is not None:
            self._remember_missing(current, kid)
        raise UnknownKey()

    @staticmethod
    def _remember_missing(keyset: _KeySet, kid: str) -> None:
        if len(keyset.missing) >= _MAX_NEGATIVE_ENTRIES:
            keyset.missing.clear()
        keyset.missing[kid] = None

    # Single flight.

    def _join_or_start(self, now: float, *, cooldown: bool, ignore_backoff: bool = False) -> _Flight | None:
        """Return the fetch in flight, or start one if the backoff and cooldown allow; else None."""
        with self._lock:
            if self._flight is not None:
                return self._flight
            if not ignore_backoff and now < self._next_attempt_at:
                return None
            # Rule 2: the cooldown counts from the last attempt, successful or not.
            if cooldown and self._last_attempt is not None and now - self._last_attempt < self._cooldown:
                return None
            flight = self._flight = _Flight()
            self._last_attempt = now
        self._lead(flight)
        return flight

    def _refresh_in_background(self, now: float) -> None:
        # Unlocked pre-check: while a refresh is failing, the hot path must stay a compare.
        if self._flight is not None or now < self._next_attempt_at:
            return
        with self._lock:
            if self._flight is not None or now < self._next_attempt_at:
                return
            flight = self._flight = _Flight()
            self._last_attempt = now
        try:
            self._run_in_background(lambda: self._lead(flight))
        except Exception:
            # No thread to be had (say, "can't start new thread"): refresh inline rather than leave
            # a flight that never lands, which would stop every later fetch.
            logger.exception("could not start a background JWKS refresh; refreshing inline")
            self._lead(flight)

    def _lead(self, flight: _Flight) -> None:
        try:
            flight.ok = self._fetch()
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()

    def _wait(self, flight: _Flight) -> bool:
        # A fetch is bounded by the connect timeout plus the body deadline; never wait forever.
        flight.done.wait(self._timeout * 3)
        return flight.done.is_set() and flight.ok

    def _retry_after(self, now: float) -> int:
        return max(1, math.ceil(self._next_attempt_at - now)) if self._next_attempt_at > now else 1

    # Rule 5: the hardened fetch.

    def _fetch(self) -> bool:
        self._fetches += 1
        previous = self._keyset
        headers = {"Accept": "application/jwk-set+json, application/json"}
        etag = previous.etag if previous is not None else None
        if etag:
            headers["If-None-Match"] = etag
        try:
            response = self._session.get(
                self.url,
                headers=headers,
                timeout=(self._timeout, self._timeout),
                allow_redirects=False,
                stream=True,
            )
            with response:
                # RFC 9110 §15.4.5: 304 answers a conditional request; unasked for, it means nothing.
                if response.status_code == 304 and previous is not None and etag:
                    self._swap(replace(previous, **self._timing(response.headers)))
                    self._not_modified += 1
                    return True
                if response.status_code != 200:
                    raise JWKSDocumentError(f"HTTP {response.status_code} from the JWKS URL")
                document = _load_json(self._read_capped(response))
                keys, members = self._parse(document, previous)
                new_etag = response.headers.get("ETag")
                self._swap(_KeySet(keys, members, etag=new_etag, **self._timing(response.headers)))
                return True
        except (requests.RequestException, JWKSDocumentError) as e:
            self._failed(str(e) if isinstance(e, JWKSDocumentError) else f"{type(e).__name__} fetching the JWKS")
        except Exception as e:  # a bug must not wedge the cache: log it loudly, count it as a failure
            logger.exception("unexpected error fetching the JWKS from %s", self.url)
            self._failed(f"{type(e).__name__} fetching the JWKS")
        return False

    def _read_capped(self, response: requests.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise JWKSDocumentError(f"JWKS is larger than {self._max_bytes} bytes")
        # A slow issuer cannot hold a worker past this, whatever the per-read timeout.
        deadline = time.monotonic() + self._timeout * 2
        body = bytearray()
        # iter_content yields decoded bytes, so a small compressed body cannot inflate past the cap.
        for chunk in response.iter_content(chunk_size=8192):
            body += chunk
            if len(body) > self._max_bytes:
                raise JWKSDocumentError(f"JWKS is larger than {self._max_bytes} bytes")
            if time.monotonic() > deadline:
                raise JWKSDocumentError("JWKS body took too long to arrive")
        return bytes(body)

    def _parse(
        self, document: Any, previous: _KeySet | None
    ) -> tuple[dict[str, rsa.RSAPublicKey], dict[str, tuple[str, str]]]:
        # RFC 7517 §5: a JWK Set is an object whose "keys" member is an array of JWKs.
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise JWKSDocumentError("JWKS is not an object with a 'keys' array")
        members: dict[str, tuple[str, str]] = {}
        ambiguous: set[str] = set()
        for jwk in document["keys"]:
            problem = self._unusable(jwk)
            if problem:
                logger.warning("skipping a JWK from %s: %s", self.url, problem)
                continue
            kid, n_e = jwk["kid"], (jwk["n"], jwk["e"])
            # RFC 7517 §4.5: two different keys under one kid cannot be told apart; use neither.
            if kid in members and members[kid] != n_e:
                ambiguous.add(kid)
            members[kid] = n_e
        for kid in ambiguous:
            logger.warning("skipping kid %r from %s: it names more than one key", kid, self.url)
            del members[kid]
        keys = {}
        for kid, (n, e) in list(members.items()):
            if previous is not None and previous.members.get(kid) == (n, e):
                keys[kid] = previous.keys[kid]  # same object: verified-token cache entries stay valid
                continue
            try:
                keys[kid] = rsa.RSAPublicNumbers(_b64url_int(e), _b64url_int(n)).public_key()
            except ValueError as err:
                logger.warning("skipping kid %r from %s: %s", kid, self.url, err)
                del members[kid]
        if not keys:
            raise JWKSDocumentError("JWKS has no usable signing key")
        return keys, members

    def _unusable(self, jwk: Any) -> str:
        """Return why `jwk` cannot verify tokens here, or "" when it can."""
        if not isinstance(jwk, dict):
            return "not an object"
        if jwk.get("kty") != "RSA":
            return f"kty {jwk.get('kty')!r} is not RSA"
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            return "kid is missing or not a short string"
        # RFC 7517 §4.2: only a key published for signatures verifies them; Kunci's issuer always
        # says so, and a key that does not is refused rather than guessed at.
        if jwk.get("use") != "sig":
            return f"kid {kid!r}: use {jwk.get('use')!r} is not sig"
        if "key_ops" in jwk and (not isinstance(jwk["key_ops"], list) or "verify" not in jwk["key_ops"]):
            return f"kid {kid!r}: key_ops does not allow verify"
        # RFC 7517 §4.4: a key bound to an algorithm we do not accept is of no use.
        if "alg" in jwk and jwk["alg"] not in self.algorithms:
            return f"kid {kid!r}: alg {jwk['alg']!r} is not accepted"
        n, e = jwk.get("n"), jwk.get("e")
        if not (isinstance(n, str) and _BASE64URL.match(n) and isinstance(e, str) and _BASE64URL.match(e)):
            return f"kid {kid!r}: n or e is not base64url"
        if len(n) > 4096:  # 24,000+ bits: nobody publishes that, and verifying with it is slow
            return f"kid {kid!r}: modulus is implausibly large"
        try:
            bits = _b64url_int(n).bit_length()
        except ValueError:
            return f"kid {kid!r}: n is not base64url"
        if bits < self._min_rsa_bits:
            return f"kid {kid!r}: {bits}-bit modulus is under {self._min_rsa_bits} bits"
        return ""

    def _timing(self, headers: Mapping[str, str]) -> dict[str, float]:
        now = self._clock()
        ttl = self._ttl(headers)
        return {
            "fetched_at": now,
            "refresh_at": now + ttl * (1 - self._refresh_ahead),
            "expires_at": now + ttl,
        }

    def _ttl(self, headers: Mapping[str, str]) -> float:
        """Return the response's freshness lifetime in seconds, clamped to [min_cache_ttl, max_cache_ttl]."""
        max_age: int | None = None
        # RFC 9111 §5.2: directives are comma-separated and case-insensitive.
        for directive in headers.get("Cache-Control", "").split(","):
            directive = directive.strip().lower()
            if directive in ("no-store", "no-cache"):
                max_age = 0
                break
            match = _MAX_AGE.match(directive)
            if match:
                max_age = int(match.group(1))
        if max_age is None:
            return self._min_ttl
        # RFC 9111 §4.2.3: a response that sat in a shared cache is already `Age` seconds old.
        age = headers.get("Age", "").strip()
        if age.isdigit():
            max_age -= int(age)
        return float(min(max(max_age, self._min_ttl), self._max_ttl))

    def _swap(self, keyset: _KeySet) -> None:
        # Rule 1: one reference assignment; readers see the old set or the new one, never a mix.
        self._keyset = keyset
        with self._lock:
            self._consecutive_failures = 0
            self._next_attempt_at = -math.inf
            self._last_error = ""

    def _failed(self, reason: str) -> None:
        # Rule 3: a failure never touches the key set; it only delays the next attempt.
        with self._lock:
            now = self._clock()
            self._failures += 1
            self._consecutive_failures += 1
            ceiling = self._max_backoff if self._usable(self._keyset, now) else self._cold_max_backoff
            # min() first: 2 ** n overflows a float after about a thousand failures in a row.
            exponent = min(self._consecutive_failures - 1, 62)
            backoff = min(_FIRST_BACKOFF * 2**exponent, ceiling)
            self._next_attempt_at = now + backoff
            self._last_error = reason
        logger.warning("JWKS fetch from %s failed (%s); next attempt in %.0fs", self.url, reason, backoff)


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:
        raise JWKSDocumentError("JWKS is not valid JSON") from e


def _b64url_int(text: str) -> int:
    """Decode an RFC 7518 §6.3.1.1 base64url unsigned big-endian integer (binascii.Error if malformed)."""
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def _algorithms(algorithms: Iterable[str]) -> list[str]:
    if isinstance(algorithms, str):
        raise InvalidSetting(f"ALGORITHMS must be a list of names, got the string {algorithms!r}")
    names = list(algorithms)
    unsupported = [name for name in names if name not in RSA_ALGORITHMS]
    if not names or unsupported:
        raise InvalidSetting(
            f"ALGORITHMS must be a non-empty list drawn from {sorted(RSA_ALGORITHMS)}, got {names!r}"
        )
    return names


def _seconds(name: str, value: Any, *, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise InvalidSetting(f"{name} must be a number of seconds >= {minimum:g}, got {value!r}")
    return float(value)


def _count(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidSetting(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
