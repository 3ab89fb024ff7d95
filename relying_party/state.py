"""The relying party's process wiring: one verifier per process, built from `settings.RELYING_PARTY`.

relying_party/verifier.py is the pure core (no settings, no network); this module builds the
process's verifier and its JWKS cache from settings when first used, and forgets both when that
setting changes, as simplejwt's `state.py` does for its `backends.py`.
"""
from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from relying_party.conf import rp_settings
from relying_party.jwks import JWKSCache
from relying_party.verifier import TokenVerifier

_default: TokenVerifier | None = None
_default_lock = threading.Lock()


def build_verifier() -> TokenVerifier:
    """Build a verifier and its JWKS cache from the current `settings.RELYING_PARTY`."""
    issuer = rp_settings.ISSUER
    jwks_url = rp_settings.JWKS_URL
    if not jwks_url and isinstance(issuer, str) and issuer:
        jwks_url = f"{issuer.rstrip('/')}/.well-known/jwks.json"
    jwks = JWKSCache(
        jwks_url,
        algorithms=rp_settings.ALGORITHMS,
        min_cache_ttl=rp_settings.MIN_CACHE_TTL,
        max_cache_ttl=rp_settings.MAX_CACHE_TTL,
        refresh_ahead=rp_settings.REFRESH_AHEAD,
        refetch_cooldown=rp_settings.REFETCH_COOLDOWN,
        max_stale=rp_settings.MAX_STALE,
        max_backoff=rp_settings.MAX_BACKOFF,
        cold_max_backoff=rp_settings.COLD_MAX_BACKOFF,
        fetch_timeout=rp_settings.FETCH_TIMEOUT,
        max_jwks_bytes=rp_settings.MAX_JWKS_BYTES,
        min_rsa_bits=rp_settings.MIN_RSA_BITS,
    )
    return TokenVerifier(
        jwks=jwks,
        issuer=issuer,
        audience=rp_settings.AUDIENCE,
        algorithms=rp_settings.ALGORITHMS,
        leeway=rp_settings.LEEWAY,
        min_rsa_bits=rp_settings.MIN_RSA_BITS,
        max_token_bytes=rp_settings.MAX_TOKEN_BYTES,
        verified_cache_size=rp_settings.VERIFIED_CACHE_SIZE,
        max_token_lifetime=rp_settings.MAX_TOKEN_LIFETIME,
    )


def default_verifier() -> TokenVerifier:
    """Return this process's verifier, building it from settings on first use."""
    global _default
    verifier = _default
    if verifier is None:
        # One verifier per process even when the first requests race: two would mean two JWKS fetches.
        with _default_lock:
            if _default is None:
                _default = build_verifier()
            verifier = _default
    return verifier


def forget_default_verifier() -> None:
    """Drop the process's verifier (and its caches); the next use rebuilds it from settings."""
    global _default
    with _default_lock:
        _default = None


@receiver(setting_changed)
def _forget_default_verifier(*, setting: str, **kwargs: Any) -> None:
    if setting == "RELYING_PARTY":
        forget_default_verifier()

