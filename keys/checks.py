"""System checks for the keyring's configuration."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from keys import sealing
from keys.conf import keys_settings
from keys.exceptions import KeyEncryptionKeyError
from keys.keyring import ALLOWED_KEY_SIZES


@register(Tags.security)
def check_key_encryption_key(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    messages = []
    value = keys_settings.KEY_ENCRYPTION_KEY
    if not value:
        messages.append(Error("KUNCI_KEY_ENCRYPTION_KEY is not set.", id="keys.E001"))
    else:
        try:
            sealing.parse_key_encryption_key(value)
        except KeyEncryptionKeyError as e:
            messages.append(Error(str(e), id="keys.E002"))
    if keys_settings.KEY_ENCRYPTION_KEY_IS_DEMO and not settings.DEBUG:
        messages.append(
            Warning(
                "THE DEMO KEY-ENCRYPTION KEY IS IN USE WITH DEBUG OFF. Private signing keys are "
                "sealed under a key generated into var/ by demo mode; anyone who can read var/ "
                "can sign tokens.",
                hint="Set KUNCI_KEY_ENCRYPTION_KEY from your secret store and unset KUNCI_DEMO.",
                id="keys.W001",
            )
        )
    return messages


@register()
def check_key_lifecycle(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    messages = []
    if keys_settings.RSA_KEY_SIZE not in ALLOWED_KEY_SIZES:
        messages.append(
            Error(
                f"KUNCI_KEYS['RSA_KEY_SIZE'] is {keys_settings.RSA_KEY_SIZE}; "
                f"use one of {ALLOWED_KEY_SIZES}.",
                id="keys.E003",
            )
        )
    max_age, window = keys_settings.JWKS_MAX_AGE, keys_settings.PREPUBLICATION_SECONDS
    served_for = keys_settings.JWKS_CACHE_SECONDS
    if max_age < 0:
        messages.append(Error("KUNCI_KEYS['JWKS_MAX_AGE'] must not be negative.", id="keys.E004"))
    if served_for < 0:
        messages.append(Error("KUNCI_KEYS['JWKS_CACHE_SECONDS'] must not be negative.", id="keys.E006"))
    # A new key reaches the served JWKS up to JWKS_CACHE_SECONDS after it is created, and a
    # relying party may then keep the JWKS it fetched just before for JWKS_MAX_AGE.
    if max_age + served_for >= window:
        messages.append(
            Error(
                f"KUNCI_KEYS['JWKS_MAX_AGE'] ({max_age} s) plus JWKS_CACHE_SECONDS ({served_for} s) "
                f"must be less than PREPUBLICATION_SECONDS ({window} s): a relying party could "
                "still hold a JWKS without the next key when that key starts signing.",
                id="keys.E005",
            )
        )
    return messages
