"""Where an app's workers share revoked sessions and used logout tokens: its database, or a Django cache.

Both stores keep a revocation until no token it could refuse is still valid, keep a logout token's
`jti` until the token expires, and answer `changes()` with an incremental read, so that a worker's
half-second refresh costs one indexed query (or one cache read of three counters) however many
sessions have ended. The pure side, the per-worker view that reads them, is relying_party/revocations.py.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import BaseCache
from django.db import DatabaseError, IntegrityError, connections, transaction

from relying_party.revocations import LogoutTokenReplayed, Revocation

# Seconds within which a row (or cache entry) numbered below one already read may still appear: a
# writer takes its number before it commits, and on PostgreSQL commits may land out of order.
REORDER_WINDOW = 10.0


class StoreUnavailable(Exception):
    """The shared store could not be written or read (the database or the cache is down)."""


def jti_digest(issuer: str, jti: str) -> str:
    """Return the key a logout token is remembered by: jti is only unique per issuer, and of any length."""
    return hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()


class DatabaseRevocationStore:
    """Revocations as rows of the app's database, read by ascending id from where the last read stopped."""

    def __init__(
        self,
        using: str = "default",
        *,
        reorder_window: float = REORDER_WINDOW,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.using = using
        self.reorder_window = reorder_window
        self._clock = clock
        self._monotonic = monotonic
        self._cursor = 0  # the highest id read so far
        # (monotonic time of a read, the cursor after it), oldest first: see _floor().
        self._reads: collections.deque[tuple[float, int]] = collections.deque()

    def record(self, revocation: Revocation, *, jti: str, jti_expires_at: float) -> None:
        from relying_party.models import LogoutTokenUse, RevokedSession

        now = self._clock()
        try:
            with transaction.atomic(using=self.using):
                # Purged here, on the rare write, so that no reader ever deletes.
                LogoutTokenUse.objects.using(self.using).filter(expires_at__lte=now).delete()
                RevokedSession.objects.using(self.using).filter(expires_at__lte=now).delete()
                try:
                    with transaction.atomic(using=self.using):
                        LogoutTokenUse.objects.using(self.using).create(jti_digest=jti, expires_at=jti_expires_at)
                except IntegrityError as e:
                    raise LogoutTokenReplayed() from e
                RevokedSession.objects.using(self.using).create(
                    kind=revocation.kind,
                    value=revocation.value,
                    logged_out_at=revocation.logged_out_at,
                    expires_at=revocation.expires_at,
                )
        except DatabaseError as e:
            raise StoreUnavailable(str(e)) from e

    def changes(self) -> list[Revocation]:
        from relying_party.models import RevokedSession

        connection = connections[self.using]
        if not connection.in_atomic_block:
            # The refresher thread holds its connection for the process's life: drop it when the
            # database has closed it or it is past CONN_MAX_AGE, as a request's end would.
            connection.close_if_unusable_or_obsolete()
        started = self._monotonic()
        # Inside a caller's transaction a failed read must not abort it (PostgreSQL would): a savepoint.
        with transaction.atomic(using=self.using) if connection.in_atomic_block else contextlib.nullcontext():
            rows = list(
                RevokedSession.objects.using(self.using)
                .filter(id__gt=self._floor(started), expires_at__gt=self._clock())
                .order_by("id")
                .values_list("id", "kind", "value", "logged_out_at", "expires_at")
            )
        if rows:
            self._cursor = max(self._cursor, rows[-1][0])
        self._reads.append((started, self._cursor))
        return [Revocation(kind, value, logged_out_at, expires_at) for _, kind, value, logged_out_at, expires_at in rows]

    def close(self) -> None:
        """Close the calling thread's connection to the store's database."""
        connections[self.using].close()

    def _floor(self, now: float) -> int:
        """Return the cursor as it stood `reorder_window` ago (0 before then): rows above it are read again.

        Reading a few seconds' rows twice is cheap; a row committed late, below a cursor that moved
        past it, would otherwise never be read.
        """
        reads = self._reads
        while len(reads) > 1 and reads[1][0] <= now - self.reorder_window:
            reads.popleft()
        return reads[0][1] if reads and reads[0][0] <= now - self.reorder_window else 0


class CacheRevocationStore:
    """Revocations in a Django cache the workers share (Redis), numbered per minute of the writer's clock.

    A writer increments the counter of the current minute and writes the entry under that number; a
    reader fetches the counters of the minutes a writer may still be in (the previous, the current
    and the next: clocks differ) and the entries past what it has read. Everything expires on its
    own: entries with their revocation, counters a little after the last entry they number.
    """

    def __init__(
        self,
        cache: BaseCache,
        *,
        namespace: str,
        retention: float,
        bucket_seconds: int = 60,
        reorder_window: float = REORDER_WINDOW,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.prefix = f"kunci-rp:revocations:{hashlib.sha256(namespace.encode()).hexdigest()[:16]}"
        self.retention = retention
        self.bucket_seconds = bucket_seconds
        self.reorder_window = reorder_window
        self._clock = clock
        self._monotonic = monotonic
        self._read: dict[int, int] = {}  # bucket -> how many of its entries have been taken, in order
        self._missing_since: dict[tuple[int, int], float] = {}
        self._first = True

    def record(self, revocation: Revocation, *, jti: str, jti_expires_at: float) -> None:
        now = self._clock()
        jti_key = f"{self.prefix}:jti:{jti}"
        try:
            if not self.cache.add(jti_key, 1, timeout=_timeout(jti_expires_at - now)):
                raise LogoutTokenReplayed()
            try:
                bucket = int(now // self.bucket_seconds)
                counter = f"{self.prefix}:{bucket}"
                self.cache.add(counter, 0, timeout=_timeout(self.retention + 3 * self.bucket_seconds))
                number = self.cache.incr(counter)
                entry = (revocation.kind, revocation.value, revocation.logged_out_at, revocation.expires_at)
                self.cache.set(f"{counter}:{number}", entry, timeout=_timeout(revocation.expires_at - now))
            except BaseException:
                # Nothing was kept: the same token may be delivered again.
                self.cache.delete(jti_key)
                raise
        except LogoutTokenReplayed:
            raise
        except Exception as e:  # noqa: BLE001 - any cache backend's connection errors
            raise StoreUnavailable(str(e)) from e

    def changes(self) -> list[Revocation]:
        now, started = self._clock(), self._monotonic()
        current = int(now // self.bucket_seconds)
        # The first read goes back over every minute whose entries may still be live.
        back = math.ceil(self.retention / self.bucket_seconds) + 1 if self._first else 1
        buckets = sorted({*range(current - back, current + 2), *(bucket for bucket, _ in self._missing_since)})
        counters = self.cache.get_many([f"{self.prefix}:{bucket}" for bucket in buckets])
        wanted = {
            (bucket, number): f"{self.prefix}:{bucket}:{number}"
            for bucket in buckets
            for number in range(self._read.get(bucket, 0) + 1, int(counters.get(f"{self.prefix}:{bucket}", 0)) + 1)
        }
        entries = self.cache.get_many(list(wanted.values())) if wanted else {}
        found: list[Revocation] = []
        blocked: set[int] = set()
        for (bucket, number), key in wanted.items():  # in order of bucket, then number
            if bucket in blocked:
                continue
            entry: Any = entries.get(key)
            if entry is None and started - self._missing_since.setdefault((bucket, number), started) < self.reorder_window:
                # Numbered but not written yet (or lost): wait for it a while before reading past it.
                blocked.add(bucket)
                continue
            self._missing_since.pop((bucket, number), None)
            self._read[bucket] = number
            if entry is not None and entry[3] > now:
                found.append(Revocation(*entry))
        oldest = current - math.ceil(self.retention / self.bucket_seconds) - 2
        self._read = {bucket: count for bucket, count in self._read.items() if bucket >= oldest}
        self._first = False
        return found


def _timeout(seconds: float) -> int:
    # Django cache timeouts are whole seconds; never 0, which some backends take as "do not store".
    return max(1, math.ceil(seconds))
