"""The issuer's settings under test: fast password hashing and per-run generated secrets."""
import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(48))
os.environ.setdefault("KUNCI_KEY_ENCRYPTION_KEY", secrets.token_urlsafe(32))
# The test client speaks plain HTTP; production's HTTPS settings are tested on settings.idp.
os.environ.setdefault("KUNCI_HTTPS", "0")

from settings.idp import *  # noqa: E402,F403

# Argon2 stays first in production (settings/idp.py); under test a cheap hasher keeps the
# suite fast, and tests that are about hashing configure their own.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
KUNCI_KEYS = {**KUNCI_KEYS, "SIGNING_KEY_CACHE_SECONDS": 0, "JWKS_CACHE_SECONDS": 0}  # noqa: F405
# Every test reads clients from the database; the tests of the client cache turn it on. The
# sign-in cache (idp/accounts/browser.py) stays on, as deployed: every browser test runs through it,
# and tests/conftest.py empties it around each test.
KUNCI_IDP = {**KUNCI_IDP, "CLIENT_CACHE_SECONDS": 0}  # noqa: F405
# Registration is off outside demo mode; under test it is on, so that its endpoints are in every
# catalogue of routes, and the tests of the closed registration turn it off.
KUNCI_IDP = {**KUNCI_IDP, "REGISTRATION": True}  # noqa: F405
