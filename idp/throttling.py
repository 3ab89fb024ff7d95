"""Throttle refused logins per (username, client IP), per username and per client IP, in Django's cache.

The counters live in the `default` cache, so with Redis configured (KUNCI_CACHE_URL) every
issuer replica and worker shares them; without it each worker process counts on its own.

Three limits, so that guessing stays slow without a lockout anyone can trigger:

- per (username, IP), strict: one client guessing one account is stopped after a few refusals;
- per IP: one client guessing across many accounts is stopped;
- per username, high: a distributed guesser is capped, yet the owner, on an IP of their own,
  is not locked out by someone else's guesses until that ceiling.

An attempt is counted before the password hasher runs, so guesses sent in parallel cannot get
past a limit, and it is refunded unless the credential was refused: a database, keyring or
capacity error, or a throttled attempt, never counts.

The same counters, under another `scope`, limit requests that send email (registration,
activation resends, password resets; idp/accounts/limits.py): there every request counts (`hit`),
per address and per client IP, whether or not the address has an account.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from types import TracebackType

from django.core.cache import BaseCache
from django.core.exceptions import ImproperlyConfigured


def wall_clock() -> float:
    """The time every throttle reads unless it is given a clock of its own."""
    return time.time()


class LoginThrottle:
    """Count attempts in fixed windows of `window` seconds; refuse those over a limit.

    `scope` names the counters: throttles of different scopes never share a count.
    """

    def __init__(
        self,
        cache: BaseCache,
        *,
        per_username_ip: int,
        per_username: int,
        per_ip: int,
        window: int,
        clock: Callable[[], float] | None = None,
        scope: str = "login-failures",
    ) -> None:
        if min(per_username_ip, per_username, per_ip, window) < 1:
            raise ImproperlyConfigured(f"KUNCI_IDP {scope} throttle limits and window must be positive")
        self.cache = cache
        self.limits = {"username_ip": per_username_ip, "username": per_username, "ip": per_ip}
        self.window = window
        self.clock = clock or (lambda: wall_clock())
        self.scope = scope

    def attempt(self, username: str, ip: str) -> LoginAttempt:
        """Return one login attempt, to be used as a context manager around the password check."""
        return LoginAttempt(self, username, ip)

    def hit(self, username: str, ip: str) -> int | None:
        """Count one request that always counts; return the seconds to wait if it is over a limit, else None."""
        now = self.clock()
        _counted, over = self._count(self._keys(username, ip, now))
        return self._wait(now) if over else None

    def counts(self, username: str, ip: str) -> dict[str, int]:
        """Return the current window's count of each counter of `username` at `ip`."""
        keys = self._keys(username, ip, self.clock())
        return {kind: self.cache.get(key, 0) for kind, key in keys.items()}

    def _count(self, keys: dict[str, str]) -> tuple[dict[str, str], bool]:
        """Count one in each counter in turn up to the first over its limit; return those counted, and if one was over.

        Stopping there keeps a refused attempt from holding room in the broader counters, where
        guesses sent in parallel would otherwise crowd out attempts that are within every limit.
        """
        counted: dict[str, str] = {}
        for kind, key in keys.items():
            # add() then incr() is atomic on Redis and memcached, and per process on locmem.
            self.cache.add(key, 0, timeout=self.window)
            try:
                count = self.cache.incr(key)
            except ValueError:  # expired between add() and incr()
                self.cache.add(key, 1, timeout=self.window)
                count = 1
            counted[kind] = key
            if count > self.limits[kind]:
                return counted, True
        return counted, False

    def _refund(self, keys: dict[str, str]) -> None:
        for key in keys.values():
            try:
                self.cache.decr(key)
            except ValueError:  # the window rolled over meanwhile
                pass

    def _wait(self, now: float) -> int:
        return max(1, math.ceil(self.window - now % self.window))

    def _keys(self, username: str, ip: str, now: float) -> dict[str, str]:
        bucket = int(now // self.window)
        # Hashed, so that a username never reaches the cache backend's logs or key limits.
        name = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
        return {
            "username_ip": f"kunci:{self.scope}:user-ip:{name}:{ip}:{bucket}",
            "username": f"kunci:{self.scope}:user:{name}:{bucket}",
            "ip": f"kunci:{self.scope}:ip:{ip}:{bucket}",
        }


class LoginAttempt:
    """One counted login attempt; it is refunded on exit unless `refused()` was called.

    Entering counts the attempt against every counter, before any password work: a
    check-then-count would let every parallel guess already past the check through. `wait` is
    then the seconds to wait when a limit is exceeded, else None. On exit the attempt is
    refunded to every counter, whatever ended it (success, a throttle answer, any exception),
    unless the credential was refused; a success also clears the (username, IP) counter.
    """

    def __init__(self, throttle: LoginThrottle, username: str, ip: str) -> None:
        self.throttle = throttle
        self.username = username
        self.ip = ip
        self.wait: int | None = None
        self._keys: dict[str, str] = {}
        self._outcome: str | None = None

    def __enter__(self) -> LoginAttempt:
        now = self.throttle.clock()
        self._keys, over = self.throttle._count(self.throttle._keys(self.username, self.ip, now))
        if over:
            self.wait = self.throttle._wait(now)
        return self

    def refused(self) -> None:
        """Mark the credential as refused: this attempt keeps counting."""
        self._outcome = "refused"

    def succeeded(self) -> None:
        """Mark the credential as accepted: the owner's own earlier mistakes from this IP are forgiven."""
        self._outcome = "succeeded"

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._outcome == "refused":
            return
        self.throttle._refund(self._keys)
        if self._outcome == "succeeded":
            # Not the username's own counter: a success must not hand a distributed guesser a
            # fresh allowance.
            self.throttle.cache.delete(self._keys["username_ip"])
