"""The issuer's settings for the issuer benchmarks, with stock simplejwt HS256 configured beside Kunci.

Kunci's token classes bring their own RS256 backend and ignore SIMPLE_JWT's algorithm and key, so
one process can run Kunci's refresh and stock simplejwt's HS256 refresh on the same database.
"""
from __future__ import annotations

import os

from settings.idp import *  # noqa: F403

SIMPLE_JWT = {
    **SIMPLE_JWT,  # noqa: F405
    "ALGORITHM": "HS256",
    "SIGNING_KEY": os.environ["BENCH_STOCK_SECRET"],
}
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
