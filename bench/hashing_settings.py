"""The issuer as it hashed before Kunci chose its own Argon2id parameters: Django's default hasher, no bound.

Section 7 of the benchmarks serves it beside today's issuer, to show what the choice and the bound change.
"""
from __future__ import annotations

from settings.idp import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
