"""The issuer's password hashers: Argon2id at OWASP's parameters, and a per-process bound on hashing.

A password hash is built to be expensive, so that concurrent logins can take every core and a
lot of memory of a worker, and starve the requests that cost nothing (the JWKS, `/api/me`).
Every hasher here computes inside one of PASSWORD_HASHING_SLOTS per process; a caller that gets
no slot within PASSWORD_HASHING_WAIT seconds gets `PasswordHashingBusy`, which the API answers
with 503 and Retry-After. The bound sits in the hashers, not in a view, so every password path
(authentication, the unknown-user dummy hash, upgrading a stored hash, setting a password) is
bounded alike.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import hashers
from django.core.exceptions import ImproperlyConfigured

from idp.conf import idp_settings


class PasswordHashingBusy(Exception):
    """Every hashing slot of this process stayed taken for PASSWORD_HASHING_WAIT seconds."""


@functools.lru_cache(maxsize=None)
def _semaphore(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


def hashing_slots() -> threading.BoundedSemaphore:
    """Return this process's semaphore of hashing slots, sized by PASSWORD_HASHING_SLOTS."""
    size = idp_settings.PASSWORD_HASHING_SLOTS
    if not isinstance(size, int) or size < 1:
        raise ImproperlyConfigured("KUNCI_IDP['PASSWORD_HASHING_SLOTS'] must be a positive integer")
    return _semaphore(size)


_held = threading.local()


@contextmanager
def hashing_slot() -> Iterator[None]:
    """Hold one hashing slot for the block; raise PasswordHashingBusy if none frees up in time.

    Re-entrant per thread: a hasher whose verify() calls its own encode() (PBKDF2, scrypt)
    holds one slot, not two.
    """
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    wait = idp_settings.PASSWORD_HASHING_WAIT
    if wait < 0:
        raise ImproperlyConfigured("KUNCI_IDP['PASSWORD_HASHING_WAIT'] must not be negative")
    slots = hashing_slots()
    if not slots.acquire(timeout=wait):
        raise PasswordHashingBusy(f"no password hashing slot free within {wait} s")
    _held.depth = 1
    try:
        yield
    finally:
        _held.depth = 0
        slots.release()


class BoundedHashingMixin:
    """Compute a hasher's hashes inside a hashing slot; put it before the hasher class."""

    def encode(self, password: str, salt: str, *args: Any, **kwargs: Any) -> str:
        with hashing_slot():
            return super().encode(password, salt, *args, **kwargs)  # type: ignore[misc]

    def verify(self, password: str, encoded: str) -> bool:
        with hashing_slot():
            return super().verify(password, encoded)  # type: ignore[misc]


class Argon2idPasswordHasher(BoundedHashingMixin, hashers.Argon2PasswordHasher):
    """Argon2id with m=19 MiB, t=2, p=1: OWASP Password Storage Cheat Sheet, "Argon2id".

    Django's defaults (m=100 MiB, t=2, p=8) cost five times the memory per login for a hash that
    OWASP rates as equivalent. The algorithm name stays `argon2`, so hashes stored with other
    parameters still verify, and are re-hashed with these on the next successful login
    (Django's `must_update`).
    """

    time_cost = 2
    memory_cost = 19456  # KiB
    parallelism = 1


class BoundedPBKDF2PasswordHasher(BoundedHashingMixin, hashers.PBKDF2PasswordHasher):
    """Django's PBKDF2-SHA256, bounded: verifies older hashes until they are upgraded to Argon2id."""


class BoundedScryptPasswordHasher(BoundedHashingMixin, hashers.ScryptPasswordHasher):
    """Django's scrypt, bounded: verifies older hashes until they are upgraded to Argon2id."""
