"""Throttle failed logins per username and per client IP, with counters in Django's cache.

The counters live in the `default` cache, so with Redis configured (KUNCI_CACHE_URL) every
issuer replica and worker shares them; without it each worker process counts on its own.
An attempt is counted before the password hasher runs, and a throttled one never runs it.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from django.core.cache import BaseCache
from django.core.exceptions import ImproperlyConfigured


class LoginThrottle:
    """Count attempts in fixed windows of `window` seconds; refuse those over a limit; refund successes."""

    def __init__(
        self,
        cache: BaseCache,
        *,
        per_username: int,
        per_ip: int,
        window: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if per_username < 1 or per_ip < 1 or window < 1:
            raise ImproperlyConfigured("KUNCI_IDP login throttle limits and window must be positive")
        self.cache = cache
        self.limits = {"username": per_username, "ip": per_ip}
        self.window = window
        self.clock = clock

    def attempt(self, username: str, ip: str) -> int | None:
        """Count one attempt against both counters before any password work; return seconds to wait if over.

        Counting first, atomically, is what makes the limit hold for guesses sent in parallel:
        a check-then-count would let every request already past the check through.
        """
        now = self.clock()
        over = False
        for kind, key in self._keys(username, ip, now).items():
            # add() then incr() is atomic on Redis and memcached, and per process on locmem.
            self.cache.add(key, 0, timeout=self.window)
            try:
                count = self.cache.incr(key)
            except ValueError:  # expired between add() and incr()
                self.cache.add(key, 1, timeout=self.window)
                count = 1
            over = over or count > self.limits[kind]
        return max(1, math.ceil(self.window - now % self.window)) if over else None

    def succeeded(self, username: str, ip: str) -> None:
        """Forget the username's attempts, and refund this one to the IP: only failures count."""
        keys = self._keys(username, ip, self.clock())
        self.cache.delete(keys["username"])
        try:
            self.cache.decr(keys["ip"])
        except ValueError:  # the window rolled over meanwhile
            pass

    def _keys(self, username: str, ip: str, now: float) -> dict[str, str]:
        bucket = int(now // self.window)
        # Hashed, so that a username never reaches the cache backend's logs or key limits.
        name = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
        return {
            "username": f"kunci:login-failures:user:{name}:{bucket}",
            "ip": f"kunci:login-failures:ip:{ip}:{bucket}",
        }
