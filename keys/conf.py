"""The keyring's settings object: `settings.KUNCI_KEYS` over DEFAULTS, read at call time."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


class AppSettings:
    """Read one settings dict lazily over defaults, like DRF's `api_settings`; `reload()` forgets."""

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

    def reload(self) -> None:
        self._cached.clear()


KEYS_DEFAULTS: dict[str, Any] = {
    # base64url of 32 random bytes; settings/idp.py reads it from KUNCI_KEY_ENCRYPTION_KEY.
    "KEY_ENCRYPTION_KEY": None,
    # True when the KEK is the generated demo one under var/ (a system check warns).
    "KEY_ENCRYPTION_KEY_IS_DEMO": False,
    # Bits of new RSA keys: 2048, 3072 or 4096.
    "RSA_KEY_SIZE": 2048,
    # Seconds relying parties may cache the JWKS (its Cache-Control max-age).
    "JWKS_MAX_AGE": 300,
    # Seconds a next key must be published before a rotation may promote it. Must exceed
    # JWKS_MAX_AGE, so every relying party that honours Cache-Control has it before it signs.
    "PREPUBLICATION_SECONDS": 360,
    # How long a retired key stays published: at least the longest token lifetime.
    "RETIRED_KEY_LIFETIME": timedelta(days=1),
    # Seconds a worker serves the JWKS from memory before re-reading the keyring; through a
    # database outage it serves the last good set. Publication lags a new key by this much, so
    # JWKS_MAX_AGE + JWKS_CACHE_SECONDS must stay below PREPUBLICATION_SECONDS.
    "JWKS_CACHE_SECONDS": 5,
    # Seconds a worker keeps the loaded signing key before re-reading the active kid:
    # the bound on how long after a rotation any worker still signs with the old key.
    "SIGNING_KEY_CACHE_SECONDS": 10,
}

keys_settings = AppSettings("KUNCI_KEYS", KEYS_DEFAULTS)


@receiver(setting_changed)
def _reload_keys_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "KUNCI_KEYS":
        keys_settings.reload()
