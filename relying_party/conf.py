"""The relying party's settings object: `settings.RELYING_PARTY` over DEFAULTS, read at call time.

A copy of the issuer's pattern rather than an import of it: relying_party must work in a project
that has no issuer code at all.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

RELYING_PARTY_DEFAULTS: dict[str, Any] = {
    # The issuer's JWK Set URL; None means f"{ISSUER}/.well-known/jwks.json".
    "JWKS_URL": None,
    # The issuer's exact `iss`, byte for byte (required).
    "ISSUER": None,
    # The `aud` this service accepts: a string, or a list of which any one must match (required).
    "AUDIENCE": None,
    # Signature algorithms accepted, from settings only, never from a token. RSA algorithms only.
    "ALGORITHMS": ["RS256"],
    # Seconds of clock skew tolerated on exp, nbf and iat (at most 300).
    "LEEWAY": 10,
    # Seconds: the floor of the honoured Cache-Control max-age, and the TTL when there is none.
    "MIN_CACHE_TTL": 60,
    # Seconds: the ceiling of the honoured max-age; also bounds how long a revoked key is trusted.
    "MAX_CACHE_TTL": 3600,
    # Fraction of the TTL, in [0, 1): refresh in the background when this much of it remains.
    "REFRESH_AHEAD": 0.1,
    # Seconds between refetches for an unknown kid, counted from the last attempt.
    "REFETCH_COOLDOWN": 30,
    # Seconds past its expiry the last good key set is still served while fetches fail.
    "MAX_STALE": 3600,
    # Seconds: the ceiling of the backoff after failed fetches (it doubles from 1 second).
    "MAX_BACKOFF": 300,
    # Seconds: the backoff's ceiling while no usable key set is held (a cold start, or past MAX_STALE),
    # when every request answers 503 anyway; at most MAX_BACKOFF. It is also the 503's Retry-After.
    "COLD_MAX_BACKOFF": 5,
    # Seconds for connecting and for each read of the JWKS fetch; the body must arrive within twice that.
    "FETCH_TIMEOUT": 5,
    # Bytes: a larger JWKS response is refused without being parsed.
    "MAX_JWKS_BYTES": 64 * 1024,
    # Bits: published RSA keys with a smaller modulus are skipped. Never below 2048.
    "MIN_RSA_BITS": 2048,
    # Entries in the LRU of verified tokens (each holds the raw token and its claims); 0 disables it.
    "VERIFIED_CACHE_SIZE": 4096,
    # Bytes: longer tokens are refused before any parsing or crypto.
    "MAX_TOKEN_BYTES": 8192,
    # Seconds: an access token whose exp lies further ahead is refused (the issuer's default is 300).
    "MAX_TOKEN_LIFETIME": 3600,
    # The name of the issuer's access-token cookie (its cookie mode: KUNCI_IDP ACCESS_COOKIE_NAME,
    # "kunci_access" by default) to accept beside the Authorization header; None accepts the header
    # only. An unsafe request the cookie authenticates needs this service's CSRF token.
    "ACCESS_COOKIE_NAME": None,
    # Map each (iss, sub) to a local Django user, created on first sight. Off: a stateless ClaimsUser.
    "LOCAL_USERS": False,
    # This service's name: the WWW-Authenticate realm and the demo's `app`.
    "APP_NAME": "relying-party",
    # Browser sign-in (relying_party/web.py): this app's registration at the issuer, a dict with
    # CLIENT_ID, CLIENT_SECRET and optionally SERVER_METADATA_URL (default f"{ISSUER}/.well-known/
    # openid-configuration"). None: the app is not registered, and its sign-in page says so.
    "OIDC": None,
    # Back-channel logout (relying_party/backchannel.py): this app's client_id at the issuer, the `aud`
    # of the logout tokens it takes. None: OIDC["CLIENT_ID"]; with neither, /backchannel-logout is 404.
    "CLIENT_ID": None,
    # Where every worker of the app finds the sessions that logout tokens ended: "database" (the app's
    # default database; needs 'relying_party' in INSTALLED_APPS) or "cache" (REVOCATION_CACHE).
    "REVOCATION_STORE": "database",
    # The Django cache alias of the "cache" store: one the workers share (Redis), not a local-memory cache.
    "REVOCATION_CACHE": "default",
    # Seconds between a worker's reads of the store: how long another worker's logout takes to reach it.
    "REVOCATION_REFRESH": 0.5,
}


class RelyingPartySettings:
    """Read `settings.RELYING_PARTY` lazily over defaults, like DRF's `api_settings`; `reload()` forgets."""

    def __init__(self, setting_name: str, defaults: dict[str, Any]) -> None:
        self.setting_name = setting_name
        self.defaults = defaults
        self._cached: dict[str, Any] = {}

    def __getattr__(self, attr: str) -> Any:
        if attr not in self.defaults:
            raise AttributeError(f"Invalid {self.setting_name} setting: {attr!r}")
        if attr not in self._cached:
            user = getattr(settings, self.setting_name, {}) or {}
            self._cached[attr] = user.get(attr, self.defaults[attr])
        return self._cached[attr]

    def unknown_keys(self) -> list[str]:
        """Return the keys of the user's setting that are not options (likely typos)."""
        user = getattr(settings, self.setting_name, {}) or {}
        return sorted(set(user) - set(self.defaults))

    def reload(self) -> None:
        self._cached.clear()


rp_settings = RelyingPartySettings("RELYING_PARTY", RELYING_PARTY_DEFAULTS)


@receiver(setting_changed)
def _reload_rp_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "RELYING_PARTY":
        rp_settings.reload()
