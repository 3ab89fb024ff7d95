"""Kunci's relying-party settings, plus a JWKS TTL floor the rotation benchmark can shrink.

settings/rp.py reads no environment variable for MIN_CACHE_TTL (60 s); a test-sized rotation
(max-age 2 s) needs the floor under the max-age, as a real deployment has it (60 s under 300 s).
"""
from __future__ import annotations

import os

from settings.rp import *  # noqa: F403

RELYING_PARTY = {
    **RELYING_PARTY,  # noqa: F405
    "MIN_CACHE_TTL": int(os.environ.get("BENCH_RP_MIN_CACHE_TTL", 60)),
}
