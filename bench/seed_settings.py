"""The seed design's validator app: simplejwt verifying every request, for the HTTP baselines.

BENCH_SEED_MODE=hs256 is the three-app tutorial (one shared HS256 secret); BENCH_SEED_MODE=jwk_url is
simplejwt's own JWK_URL mode (PyJWKClient). Both start from settings.base, like Kunci's relying
party, so middleware, renderers and everything else per request are the same.
"""
from __future__ import annotations

import os
from datetime import timedelta

from settings.base import *  # noqa: F403
from settings.base import database

_mode = os.environ.get("BENCH_SEED_MODE", "hs256")

ROOT_URLCONF = "bench.seed_urls"
DATABASES = {"default": database(f"bench-seed-{_mode}.sqlite3")}

REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    # Stateless like Kunci's ClaimsUser: no database read per request on either side.
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

SIMPLE_JWT = {
    "AUDIENCE": os.environ["KUNCI_AUDIENCE"],
    "ISSUER": os.environ["KUNCI_ISSUER"],
    "USER_ID_CLAIM": "user_id",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "LEEWAY": 10,
}
if _mode == "hs256":
    SIMPLE_JWT.update({"ALGORITHM": "HS256", "SIGNING_KEY": os.environ["BENCH_SEED_SECRET"]})
elif _mode == "jwk_url":
    SIMPLE_JWT.update({"ALGORITHM": "RS256", "SIGNING_KEY": None, "JWK_URL": os.environ["KUNCI_JWKS_URL"]})
else:
    raise ValueError(f"BENCH_SEED_MODE must be hs256 or jwk_url, not {_mode!r}")
