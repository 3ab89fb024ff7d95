"""The issuer's settings object: `settings.KUNCI_IDP` over DEFAULTS, read at call time."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from keys.conf import AppSettings

IDP_DEFAULTS: dict[str, Any] = {
    # The `iss` of every token and the discovery document's `issuer`, byte for byte.
    "ISSUER": "http://127.0.0.1:8000",
    # The `aud` of every token: what relying parties configure as their AUDIENCE.
    "AUDIENCE": "kunci-apps",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    # Seconds of clock skew tolerated when the issuer checks exp, nbf and iat.
    "LEEWAY": 10,
    # Refused logins allowed in each window before 429: per username from one client IP (strict),
    # per client IP across usernames, and per username across every IP (a high ceiling, so that
    # someone else's guesses cannot lock the owner out). See SECURITY.md, "Password guessing".
    "LOGIN_FAILURES_PER_USERNAME_IP": 5,
    "LOGIN_FAILURES_PER_IP": 20,
    "LOGIN_FAILURES_PER_USERNAME": 100,
    # Seconds of one throttling window.
    "LOGIN_FAILURE_WINDOW": 300,
    # Password hashes computed at once per process (each Argon2id hash holds 19 MiB), and the
    # seconds a login waits for a free slot before 503 server_busy.
    "PASSWORD_HASHING_SLOTS": 2,
    "PASSWORD_HASHING_WAIT": 0,
    # Seconds after a rotation during which presenting the rotated refresh token again is a
    # retry that gets a new pair, as long as the successor was never sent to a client nor used
    # (idp/sessions.py); 0 treats every such repeat as reuse and ends the session (RFC 9700 §4.14.2).
    "REFRESH_REUSE_GRACE": 5,
    # Seconds an authorization code may be redeemed after it is issued. RFC 6749 §4.1.2: "A
    # maximum authorization code lifetime of 10 minutes is RECOMMENDED"; a browser redirect and
    # one token request take seconds, so a minute leaves a stolen code little time.
    "AUTHORIZATION_CODE_SECONDS": 60,
    # The origins whose scripts may call the JSON API (/api/...), exactly as browsers send them in
    # Origin (scheme://host[:port]); none by default. See idp/cors.py for the other paths.
    "CORS_ORIGINS": [],
}

idp_settings = AppSettings("KUNCI_IDP", IDP_DEFAULTS)


@receiver(setting_changed)
def _reload_idp_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "KUNCI_IDP":
        idp_settings.reload()
