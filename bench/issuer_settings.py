"""The issuer's settings for the issuer benchmarks, with stock simplejwt HS256 configured beside Kunci.

Kunci mints with its keyring and never reads SIMPLE_JWT's algorithm or key, so one process can run
Kunci's refresh and stock simplejwt's HS256 refresh (rotating and blacklisting, as simplejwt does
when told to) on the same database.
"""
from __future__ import annotations

import os

from settings.idp import *  # noqa: F403

SIMPLE_JWT = {
    **SIMPLE_JWT,  # noqa: F405
    "ALGORITHM": "HS256",
    "SIGNING_KEY": os.environ["BENCH_STOCK_SECRET"],
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
