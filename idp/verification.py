"""The issuer verifies its own tokens with the relying party's verifier, over its keyring.

One verifier, one vocabulary: a token the issuer refuses is refused by every relying party with
the same code (relying_party/verifier.py). The issuer's key source reads the keyring, so a key that
is revoked or purged stops verifying at once on every replica, and its profiles require the claims
the issuer's sessions read. The verifiers are built from KUNCI_IDP when first used and rebuilt
when it changes.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.signals import setting_changed
from django.dispatch import receiver

from idp.conf import idp_settings
from idp.jws import ALGORITHM
from keys import exceptions as keyring_errors
from keys import keyring
from relying_party.exceptions import UnknownKey
from relying_party.verifier import ACCESS, REFRESH, TokenProfile, TokenVerifier, VerifiedToken

# The issuer's sessions read `sid`, `user_id` and (for refresh tokens) `jti`: a token without them
# was not minted here.
ACCESS_PROFILE = ACCESS.requiring("jti", "sid", "user_id", "token_type")
REFRESH_PROFILE = REFRESH.requiring("user_id", "token_type")


class KeyringKeys:
    """A verifier's key source over the keyring: the published, non-revoked key named by `kid`."""

    def get_key(self, kid: str) -> rsa.RSAPublicKey:
        try:
            return keyring.verifying_key(kid)
        except keyring_errors.UnknownKey as e:
            raise UnknownKey("Token is signed by an unknown or revoked key") from e


def build_verifier(profile: TokenProfile, *, clock: Callable[[], float] = time.time) -> TokenVerifier:
    """Build a verifier of `profile` tokens from the current KUNCI_IDP settings."""
    leeway = idp_settings.LEEWAY
    lifetimes = (idp_settings.ACCESS_TOKEN_LIFETIME, idp_settings.REFRESH_TOKEN_LIFETIME)
    return TokenVerifier(
        jwks=KeyringKeys(),
        issuer=idp_settings.ISSUER,
        audience=idp_settings.AUDIENCE,
        algorithms=[ALGORITHM],
        leeway=leeway.total_seconds() if isinstance(leeway, timedelta) else leeway,
        # No token outlives the longest lifetime the issuer is configured with.
        max_token_lifetime=max(lifetimes).total_seconds(),
        # A refresh token is presented once: caching it would only keep live secrets in memory.
        verified_cache_size=0 if profile.token_type == "refresh" else 4096,
        clock=clock,
        profile=profile,
    )


@lru_cache(maxsize=None)
def verifier(profile: TokenProfile) -> TokenVerifier:
    """Return the process's verifier of `profile` tokens (rebuilt when the settings change)."""
    return build_verifier(profile)


@receiver(setting_changed)
def _forget_verifiers(*, setting: str, **kwargs: Any) -> None:
    if setting in ("KUNCI_IDP", "KUNCI_KEYS"):
        verifier.cache_clear()


def verify_access(token: str, *, now: float | None = None) -> VerifiedToken:
    """Return the verified access token `token` (at `now`, seconds since the epoch), or raise TokenRejected."""
    return verifier(ACCESS_PROFILE).verify(token, now=now)


def verify_refresh(token: str, *, now: float | None = None) -> VerifiedToken:
    """Return the verified refresh token `token` (at `now`, seconds since the epoch), or raise TokenRejected."""
    return verifier(REFRESH_PROFILE).verify(token, now=now)
