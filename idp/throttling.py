"""Throttle failed logins per username and per client IP, with counters in Django's cache.

The counters live in the `default` cache, so with Redis configured (KUNCI_CACHE_URL) every
issuer replica shares them. A throttled attempt is refused before the password hasher runs.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from django.core.cache import BaseCache
from django.core.exceptions import ImproperlyConfigured


class LoginThrottle:
    """Count failures in fixed windows of `window` seconds; refuse once a counter reaches its limit."""

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

    def retry_after(self, username: str, ip: str) -> int | None:
        """Return the seconds to wait if either counter is at its limit, else None."""
        now = self.clock()
        keys = self._keys(username, ip, now)
        counts = self.cache.get_many(list(keys.values()))
        if any(counts.get(key, 0) >= self.limits[kind] for kind, key in keys.items()):
            return max(1, math.ceil(self.window - now % self.window))
        return None

    def record_failure(self, username: str, ip: str) -> None:
        """Count one failed login against both the username and the client IP."""
        for key in self._keys(username, ip, self.clock()).values():
            # add() then incr() is atomic on Redis and memcached, and per process on locmem.
            self.cache.add(key, 0, timeout=self.window)
            try:
                self.cache.incr(key)
            except ValueError:  # expired between add() and incr()
                self.cache.add(key, 1, timeout=self.window)

    def record_success(self, username: str, ip: str) -> None:
        """Forget the username's failures; the IP's stay counted."""
        self.cache.delete(self._keys(username, ip, self.clock())["username"])

    def _keys(self, username: str, ip: str, now: float) -> dict[str, str]:
        bucket = int(now // self.window)
        # Hashed, so that a username never reaches the cache backend's logs or key limits.
        name = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
        return {
            "username": f"kunci:login-failures:user:{name}:{bucket}",
            "ip": f"kunci:login-failures:ip:{ip}:{bucket}",
        }
