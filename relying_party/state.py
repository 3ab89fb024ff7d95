"""The relying party's process wiring: its verifiers and revocation view, built from `settings.RELYING_PARTY`.

relying_party/verifier.py is the pure core (no settings, no network); this module builds the
process's JWKS cache, its access-token verifier, its logout-token verifier over the same cache, and
its view of the ended sessions, when first used, and forgets them all when that setting changes, as
simplejwt's `state.py` does for its `backends.py`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.cache import caches
from django.core.signals import setting_changed
from django.dispatch import receiver

from relying_party.conf import rp_settings
from relying_party.jwks import JWKSCache
from relying_party.revocation_stores import CacheRevocationStore, DatabaseRevocationStore
from relying_party.revocations import RevocationStore, RevocationView
from relying_party.verifier import LOGOUT, RevocationCheck, TokenVerifier

REVOCATION_STORES = ("database", "cache")


@dataclass(frozen=True)
class RelyingParty:
    """What one process verifies with; `logout` is None without a CLIENT_ID, `revocations` without a store."""

    access: TokenVerifier
    logout: TokenVerifier | None
    revocations: RevocationView | None


_default: RelyingParty | None = None
_default_lock = threading.Lock()


def build_jwks() -> JWKSCache:
    """Build a JWKS cache from the current `settings.RELYING_PARTY`."""
    issuer = rp_settings.ISSUER
    jwks_url = rp_settings.JWKS_URL
    if not jwks_url and isinstance(issuer, str) and issuer:
        jwks_url = f"{issuer.rstrip('/')}/.well-known/jwks.json"
    return JWKSCache(
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


def _verifier_options() -> dict[str, Any]:
    """Return what every verifier of this app takes from settings, whatever kind of token it verifies."""
    return {
        "issuer": rp_settings.ISSUER,
        "algorithms": rp_settings.ALGORITHMS,
        "leeway": rp_settings.LEEWAY,
        "min_rsa_bits": rp_settings.MIN_RSA_BITS,
        "max_token_bytes": rp_settings.MAX_TOKEN_BYTES,
        "max_token_lifetime": rp_settings.MAX_TOKEN_LIFETIME,
    }


def build_verifier(*, jwks: JWKSCache | None = None, revocations: RevocationCheck | None = None) -> TokenVerifier:
    """Build an access-token verifier (and, unless given, its JWKS cache) from the current settings."""
    return TokenVerifier(
        jwks=jwks or build_jwks(),
        audience=rp_settings.AUDIENCE,
        verified_cache_size=rp_settings.VERIFIED_CACHE_SIZE,
        revocations=revocations,
        **_verifier_options(),
    )


def client_id() -> str | None:
    """Return this app's client_id at the issuer: CLIENT_ID, else the browser sign-in's, else None."""
    registration = rp_settings.OIDC if isinstance(rp_settings.OIDC, dict) else {}
    return rp_settings.CLIENT_ID or registration.get("CLIENT_ID") or None


def build_logout_verifier(jwks: JWKSCache) -> TokenVerifier | None:
    """Build the verifier of logout tokens addressed to this app, over `jwks`; None without a client_id."""
    audience = client_id()
    if audience is None:
        return None
    return TokenVerifier(
        jwks=jwks,
        audience=audience,
        # Each logout token is taken once (its jti is remembered), so there is nothing to cache.
        verified_cache_size=0,
        profile=LOGOUT,
        **_verifier_options(),
    )


def revocation_retention() -> float:
    """Return how long a revocation is kept: past it, every token it could refuse has expired."""
    # The verifier refuses any token whose exp lies further ahead than MAX_TOKEN_LIFETIME + LEEWAY.
    return float(rp_settings.MAX_TOKEN_LIFETIME) + float(rp_settings.LEEWAY)


def build_revocation_store() -> RevocationStore | None:
    """Build the store REVOCATION_STORE names; None for the database store where the app is not installed."""
    if rp_settings.REVOCATION_STORE == "cache":
        return CacheRevocationStore(
            caches[rp_settings.REVOCATION_CACHE],
            namespace=f"{rp_settings.ISSUER}\x00{client_id() or rp_settings.APP_NAME}",
            retention=revocation_retention(),
        )
    # relying_party.checks reports this (E003), and an unknown REVOCATION_STORE (E004).
    if rp_settings.REVOCATION_STORE == "database" and apps.is_installed("relying_party"):
        return DatabaseRevocationStore()
    return None


def build_relying_party() -> RelyingParty:
    """Build the process's verifiers and revocation view; start the view's refresher."""
    jwks = build_jwks()
    store = build_revocation_store()
    revocations = (
        RevocationView(store, refresh_interval=rp_settings.REVOCATION_REFRESH, leeway=rp_settings.LEEWAY)
        if store else None
    )
    relying_party = RelyingParty(
        access=build_verifier(jwks=jwks, revocations=revocations),
        logout=build_logout_verifier(jwks),
        revocations=revocations,
    )
    if revocations is not None:
        # The first read happens here, before the first token is verified; later ones in the background.
        revocations.start()
    return relying_party


def default_relying_party() -> RelyingParty:
    """Return this process's verifiers and revocation view, building them from settings on first use."""
    global _default
    relying_party = _default
    if relying_party is None:
        # One per process even when the first requests race: two would mean two JWKS fetches.
        with _default_lock:
            if _default is None:
                _default = build_relying_party()
            relying_party = _default
    return relying_party


def default_verifier() -> TokenVerifier:
    """Return this process's access-token verifier, building it from settings on first use."""
    return default_relying_party().access


def default_revocations() -> RevocationView | None:
    """Return this process's view of the ended sessions, or None when it has no revocation store."""
    return default_relying_party().revocations


def forget_default_verifier() -> None:
    """Drop the process's verifiers (and their caches) and stop its revocation refresher."""
    global _default
    with _default_lock:
        if _default is not None and _default.revocations is not None:
            _default.revocations.stop()
        _default = None


@receiver(setting_changed)
def _forget_default_verifier(*, setting: str, **kwargs: Any) -> None:
    if setting in ("RELYING_PARTY", "INSTALLED_APPS", "CACHES"):
        forget_default_verifier()
