"""Settings for the issuer role: the keyring, the token endpoints and the JWKS."""
from __future__ import annotations

import os
from datetime import timedelta

from settings.base import *  # noqa: F403
from settings.base import database
from settings.email import email_settings
from settings.environment import VAR_DIR, demo_mode, env_flag, env_list, secret

INSTALLED_APPS = [
    *INSTALLED_APPS,  # noqa: F405
    "django.contrib.admin",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "corsheaders",
    "keys",
    "idp",
]

MIDDLEWARE = [
    # Outermost, so that every answer of a CORS path carries its headers, a 413 or a 503 too:
    # a browser app can read why its call failed. It answers preflights before any view runs.
    "idp.cors.CorsMiddleware",
    "idp.errors.RequestBodyLimitMiddleware",
    *MIDDLEWARE,  # noqa: F405
]

ROOT_URLCONF = "idp.urls"

# The issuer's own cookie names: the demo apps on other ports of the same host have theirs
# (settings/rp.py), and browsers do not separate cookies by port (RFC 6265 §8.5).
SESSION_COOKIE_NAME = "kunci_session"
CSRF_COOKIE_NAME = "kunci_csrftoken"
LANGUAGE_COOKIE_NAME = "kunci_language"
# A failed CSRF check is a 403 page like the issuer's other errors (JSON for API clients).
CSRF_FAILURE_VIEW = "idp.error_pages.csrf_failure"
DATABASES = {"default": database("idp.sqlite3")}

AUTH_USER_MODEL = "idp.User"
AUTHENTICATION_BACKENDS = ["idp.backends.UsernameOrEmailBackend"]
# Argon2id at OWASP's m=19 MiB, t=2, p=1; every hasher computes inside the per-process bound on
# concurrent hashing (idp/hashers.py). The others verify older hashes until their next login.
PASSWORD_HASHERS = [
    "idp.hashers.Argon2idPasswordHasher",
    "idp.hashers.BoundedPBKDF2PasswordHasher",
    "idp.hashers.BoundedScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "EXCEPTION_HANDLER": "idp.errors.exception_handler",
    # A Bearer header first; without one, cookie mode's access cookie (unsafe methods need CSRF).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "idp.authentication.AccessTokenAuthentication",
        "idp.authentication.AccessCookieAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Kunci issuer",
    "DESCRIPTION": "Login, refresh and logout with RS256 tokens; public keys at /.well-known/jwks.json.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Cross-origin reads (CORS) ------------------------------------------------------------------
# Which origin may read which path is Kunci's policy (idp/cors.py): the public documents any
# origin, the OAuth endpoints the clients' web origins, the JSON API KUNCI_CORS_ORIGINS. These are
# django-cors-headers' settings for the rest; idp/checks.py keeps the two below off.
CORS_ALLOW_ALL_ORIGINS = False
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "POST")
# Bearer tokens, Basic client authentication and JSON or form bodies; Accept is always allowed.
CORS_ALLOW_HEADERS = ("authorization", "content-type")
# The scripts read the challenge of a 401 (RFC 6750 §3) and when to retry a 429 or 503.
CORS_EXPOSE_HEADERS = ("WWW-Authenticate", "Retry-After")
# Ten minutes: a removed client's web origin loses its cached preflights soon after.
CORS_PREFLIGHT_MAX_AGE = 600

_access_lifetime = timedelta(seconds=int(os.environ.get("KUNCI_ACCESS_TOKEN_SECONDS", 300)))
_refresh_lifetime = timedelta(seconds=int(os.environ.get("KUNCI_REFRESH_TOKEN_SECONDS", 86400)))

KUNCI_IDP = {
    "ISSUER": os.environ.get("KUNCI_ISSUER", "http://127.0.0.1:8000"),
    "AUDIENCE": os.environ.get("KUNCI_AUDIENCE", "kunci-apps"),
    "ACCESS_TOKEN_LIFETIME": _access_lifetime,
    "REFRESH_TOKEN_LIFETIME": _refresh_lifetime,
    "REFRESH_REUSE_GRACE": int(os.environ.get("KUNCI_REFRESH_REUSE_GRACE", 5)),
    "CORS_ORIGINS": env_list("KUNCI_CORS_ORIGINS", []),
    # Cookie mode's token cookies go without Secure to 127.0.0.1 in the demo, never in production.
    "COOKIE_SECURE_ON_LOOPBACK": not demo_mode(),
    "BACKCHANNEL_ALLOWED_NETWORKS": env_list("KUNCI_BACKCHANNEL_ALLOWED_NETWORKS", []),
    # Self-service registration: on in the demo, off in production unless KUNCI_REGISTRATION=1.
    "REGISTRATION": env_flag("KUNCI_REGISTRATION", default=demo_mode()),
}

# Login throttling, the bound on concurrent password hashing and cookie mode's cookies, each from
# KUNCI_<NAME> when set; idp/conf.py holds the defaults.
_IDP_KNOBS = {
    "LOGIN_FAILURES_PER_USERNAME_IP": int,
    "LOGIN_FAILURES_PER_IP": int,
    "LOGIN_FAILURES_PER_USERNAME": int,
    "LOGIN_FAILURE_WINDOW": int,
    "PASSWORD_HASHING_SLOTS": int,
    "PASSWORD_HASHING_WAIT": float,
    "AUTHORIZATION_CODE_SECONDS": int,
    "OUTBOX_MAX_AGE": int,
    "OUTBOX_RETRY_CAP": float,
    "OUTBOX_MAX_REFUSALS": int,
    "OUTBOX_LEASE": float,
    "OUTBOX_CONCURRENCY": int,
    "OUTBOX_POLL_INTERVAL": float,
    "ACCESS_COOKIE_NAME": str,
    "REFRESH_COOKIE_NAME": str,
    "ACCESS_COOKIE_DOMAIN": str,
    "BACKCHANNEL_CONNECT_TIMEOUT": float,
    "BACKCHANNEL_TIMEOUT": float,
    "CLIENT_CACHE_SECONDS": float,
    "SIGN_IN_CACHE_SECONDS": float,
    "ACTIVATION_LINK_SECONDS": int,
    "PASSWORD_RESET_LINK_SECONDS": int,
    "ACCOUNT_EMAILS_PER_ADDRESS": int,
    "ACCOUNT_REQUESTS_PER_IP": int,
    "ACCOUNT_REQUEST_WINDOW": int,
}
KUNCI_IDP.update({name: cast(os.environ[f"KUNCI_{name}"]) for name, cast in _IDP_KNOBS.items() if f"KUNCI_{name}" in os.environ})

# --- Email ----------------------------------------------------------------------------------------
# Sent only by the outbox worker (kind "email", idp/accounts/mail.py), so a mail server that is down
# delays mail and loses none. KUNCI_EMAIL_URL (settings/email.py) sets EMAIL_BACKEND and the other
# EMAIL_* settings; the demo writes files under var/mail/.
globals().update(email_settings(os.environ.get("KUNCI_EMAIL_URL"), demo_mail_dir=VAR_DIR / "mail" if demo_mode() else None))
DEFAULT_FROM_EMAIL = os.environ.get("KUNCI_DEFAULT_FROM_EMAIL") or "Kunci <kunci@localhost>"

_kek, KEY_ENCRYPTION_KEY_IS_DEMO = secret("KUNCI_KEY_ENCRYPTION_KEY", "key-encryption-key")

KUNCI_KEYS = {
    "KEY_ENCRYPTION_KEY": _kek,
    "KEY_ENCRYPTION_KEY_IS_DEMO": KEY_ENCRYPTION_KEY_IS_DEMO,
    "RSA_KEY_SIZE": int(os.environ.get("KUNCI_RSA_KEY_SIZE", 2048)),
    "JWKS_MAX_AGE": int(os.environ.get("KUNCI_JWKS_MAX_AGE", 300)),
    "JWKS_CACHE_SECONDS": float(os.environ.get("KUNCI_JWKS_CACHE_SECONDS", 5)),
    "SIGNING_KEY_CACHE_SECONDS": int(os.environ.get("KUNCI_SIGNING_KEY_CACHE_SECONDS", 10)),
    "PREPUBLICATION_SECONDS": int(os.environ.get("KUNCI_PREPUBLICATION_SECONDS", 360)),
    # A retired key stays published until every token it signed has expired.
    "RETIRED_KEY_LIFETIME": max(_access_lifetime, _refresh_lifetime),
}

# simplejwt supplies only the OutstandingToken/BlacklistedToken tables: Kunci mints and verifies its
# own tokens (idp/jws.py, idp/verification.py) and rotates refresh tokens in idp/sessions.py. Its
# shared-secret defaults are switched off so that nothing could sign HS256 by accident.
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": None,
    "VERIFYING_KEY": None,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}
