"""Settings for the relying-party role: verify access tokens with the issuer's JWKS; hold no signing key.

No `keys` app, no SIMPLE_JWT, no key-encryption key: a relying party has nothing to sign with.
"""
from __future__ import annotations

import json
import os
import re

from django.core.exceptions import ImproperlyConfigured

from settings.base import *  # noqa: F403
from settings.base import database
from settings.environment import VAR_DIR, demo_mode, env_flag

RP_NAME = os.environ.get("KUNCI_RP_NAME", "app1")
if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", RP_NAME):
    # The name becomes a file name under var/ and the WWW-Authenticate realm.
    raise ImproperlyConfigured(f"KUNCI_RP_NAME must be 1-64 letters, digits, '-' or '_'; got {RP_NAME!r}")
_issuer = os.environ.get("KUNCI_ISSUER", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    *INSTALLED_APPS,  # noqa: F405
    "relying_party",
]

ROOT_URLCONF = "relying_party.urls"

# Each app names its own cookies: the issuer and the other apps on other ports of the same host
# would otherwise overwrite them, since browsers do not separate cookies by port (RFC 6265 §8.5).
SESSION_COOKIE_NAME = f"{RP_NAME}_session"
CSRF_COOKIE_NAME = f"{RP_NAME}_csrftoken"
LANGUAGE_COOKIE_NAME = f"{RP_NAME}_language"
DATABASES = {"default": database(f"rp-{RP_NAME}.sqlite3")}

REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "EXCEPTION_HANDLER": "relying_party.errors.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["relying_party.authentication.JWKSAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}



def _oidc_registration() -> dict | None:
    """Return this app's client registration for browser sign-in, or None when it has none.

    KUNCI_RP_CLIENT_ID and KUNCI_RP_CLIENT_SECRET win. Without them, demo mode reads the file that
    `manage.py demo_clients` (run by `make run`) writes; no secret ever has a default.
    """
    client_id = os.environ.get("KUNCI_RP_CLIENT_ID")
    client_secret = os.environ.get("KUNCI_RP_CLIENT_SECRET")
    demo_file = VAR_DIR / f"demo-client-{RP_NAME}.json"
    try:
        demo = json.loads(demo_file.read_text())
    except (OSError, ValueError):
        demo = None
    demo = demo if isinstance(demo, dict) and demo.get("client_id") and demo.get("client_secret") else None
    if client_id:
        if not client_secret:
            raise ImproperlyConfigured("KUNCI_RP_CLIENT_ID is set but KUNCI_RP_CLIENT_SECRET is not.")
        if not demo_mode() and demo and demo["client_secret"] == client_secret:
            raise ImproperlyConfigured(
                f"KUNCI_RP_CLIENT_SECRET is the demo secret from {demo_file}; outside demo mode "
                "register the app with `manage.py clients add` and use that secret."
            )
    elif demo_mode() and demo:
        client_id, client_secret = demo["client_id"], demo["client_secret"]
    else:
        return None
    return {
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": client_secret,
        "SERVER_METADATA_URL": f"{_issuer}/.well-known/openid-configuration",
    }


RELYING_PARTY = {
    "APP_NAME": RP_NAME,
    "ISSUER": _issuer,
    "JWKS_URL": os.environ.get("KUNCI_JWKS_URL", f"{_issuer}/.well-known/jwks.json"),
    "AUDIENCE": os.environ.get("KUNCI_AUDIENCE", "kunci-apps"),
    "LOCAL_USERS": env_flag("KUNCI_RP_LOCAL_USERS"),
    # The issuer's access-token cookie to accept too (its cookie mode), e.g. kunci_access; off when unset.
    "ACCESS_COOKIE_NAME": os.environ.get("KUNCI_RP_ACCESS_COOKIE_NAME") or None,
    "OIDC": _oidc_registration(),
}

# Where the workers share the sessions back-channel logout ended: "database" (default) or "cache"
# (the default cache, Redis with KUNCI_CACHE_URL).
if os.environ.get("KUNCI_RP_REVOCATION_STORE"):
    RELYING_PARTY["REVOCATION_STORE"] = os.environ["KUNCI_RP_REVOCATION_STORE"]

# The caches' timings can be tuned from the environment (seconds), e.g. KUNCI_RP_REFETCH_COOLDOWN=5.
for _option in (
    "LEEWAY", "MIN_CACHE_TTL", "MAX_CACHE_TTL", "REFETCH_COOLDOWN", "MAX_STALE", "MAX_BACKOFF", "COLD_MAX_BACKOFF",
    "FETCH_TIMEOUT", "REVOCATION_REFRESH",
):
    if os.environ.get(f"KUNCI_RP_{_option}"):
        RELYING_PARTY[_option] = float(os.environ[f"KUNCI_RP_{_option}"])
