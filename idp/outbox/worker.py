"""The outbox worker: claim due rows with a lease, deliver them outside any transaction, record the outcome.

Claiming is one short transaction: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so that several
workers share the rows without waiting on each other; on SQLite the transaction is IMMEDIATE
(settings/base.py), which serializes claims on the database's write lock. A claim moves the row's
`available_at` one lease ahead and stamps it: a worker that dies leaves rows that become due again
when the lease runs out, and whatever it reports later is ignored (the stamp is no longer the row's).
So delivery is at least once; the handlers' receivers tolerate a repeat (a logout of an ended session,
a second copy of an email).

Waking up: on PostgreSQL a listener thread LISTENs on the channel that `enqueue` notifies at commit,
so new work starts within milliseconds; rows waiting out a backoff are claimed when due. SQLite has
no notifications: the worker polls every OUTBOX_POLL_INTERVAL with a read that takes no lock.
"""
from __future__ import annotations

import logging
import random
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, close_old_connections, connection, connections, transaction
from django.db.models import F, Min
from django.utils import timezone
from django.utils.module_loading import import_string

from idp.conf import idp_settings
from idp.outbox import CHANNEL, Refused
from idp.outbox.models import OutboxMessage, OutboxState

logger = logging.getLogger("kunci.outbox")

Clock = Callable[[], datetime]
# The longest an idle PostgreSQL worker sleeps without a notification; due retries wake it earlier.
IDLE_CEILING = 5.0
# How often delivered rows past OUTBOX_KEEP_DELIVERED are purged.
PURGE_EVERY = timedelta(minutes=1)


def backoff(attempts: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after `attempts` failed ones: exponential, capped, with jitter.

    base × 2^(attempts-1), at most OUTBOX_RETRY_CAP, then scaled by a random factor in [0.5, 1)
    ("equal jitter") so that the retries of many rows that failed together spread out.
    """
    base, cap = idp_settings.OUTBOX_RETRY_BASE, idp_settings.OUTBOX_RETRY_CAP
    # The exponent is bounded before the power: 2 ** 10_000 is a float overflow.
    delay = min(cap, base * 2 ** min(max(attempts - 1, 0), 32))
    return delay * (0.5 + rng() / 2)


class Worker:
    """Delivers the outbox. `run()` until stopped, `drain()` what is due now (tests, cron)."""

    def __init__(
        self, *, name: str | None = None, concurrency: int | None = None, clock: Clock = timezone.now,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.name = name or f"worker-{secrets.token_hex(4)}"
        self.concurrency = concurrency or idp_settings.OUTBOX_CONCURRENCY
        self.clock = clock
        self.rng = rng
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._last_purge: datetime | None = None

    # One pass.

    def claim(self, limit: int) -> list[OutboxMessage]:
        """Lease up to `limit` due rows to this worker and return them (each with its new stamp)."""
        now = self.clock()
        with transaction.atomic():
            self._give_up_expired(now)
            rows = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(state=OutboxState.PENDING, available_at__lte=now)
                .order_by("available_at", "id")[:limit]
            )
            if not rows:
                return []
            stamp = f"{self.name}/{secrets.token_hex(6)}"
            lease_end = now + timedelta(seconds=idp_settings.OUTBOX_LEASE)
            OutboxMessage.objects.filter(id__in=[row.id for row in rows]).update(
                available_at=lease_end, claim=stamp, attempts=F("attempts") + 1,
            )
        for row in rows:
            row.available_at, row.claim, row.attempts = lease_end, stamp, row.attempts + 1
        return rows

    def deliver(self, row: OutboxMessage) -> str:
        """Run `row`'s handler and record the outcome; return the row's new state."""
        try:
            handler = import_string(idp_settings.OUTBOX_HANDLERS[row.kind])
            handler(row.payload)
        except Refused as e:
            return self._failed(row, e, refused=True)
        except Exception as e:  # noqa: BLE001 - every failure of a handler is recorded and retried
            return self._failed(row, e, refused=False)
        now = self.clock()
        self._record(row, state=OutboxState.DELIVERED, delivered_at=now, last_error="")
        return OutboxState.DELIVERED

    def drain(self) -> int:
        """Deliver, one by one in this thread, every row due now (and those that fall due meanwhile); return how many."""
        done = 0
        while rows := self.claim(self.concurrency):
            for row in rows:
                self.deliver(row)
                done += 1
        return done

    # The long-running loop.

    def stop(self) -> None:
        """Make `run()` return once the deliveries in flight finish (safe from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        """Deliver until `stop()`, `concurrency` rows at a time; in-flight deliveries finish first."""
        stop = self._stopping
        listener = None
        if connection.vendor == "postgresql":
            listener = threading.Thread(target=self._listen, args=(stop,), name="outbox-listen", daemon=True)
            listener.start()
        running: set[Future] = set()
        thread_connections: list[Any] = []
        with ThreadPoolExecutor(
            self.concurrency, thread_name_prefix="outbox",
            initializer=lambda: thread_connections.append(connections[DEFAULT_DB_ALIAS]),
        ) as pool:
            while not stop.is_set():
                self._wake.clear()
                free = self.concurrency - len(running)
                try:
                    close_old_connections()
                    rows = self.claim(free) if free and self._has_due_rows() else []
                    for row in rows:
                        future = pool.submit(self._deliver_in_thread, row)
                        running.add(future)
                        future.add_done_callback(lambda f: (running.discard(f), self._wake.set()))
                    if rows and len(running) < self.concurrency:
                        continue  # more may be due
                    if len(running) >= self.concurrency:
                        wait = 1.0  # until a slot frees (each one wakes the loop)
                    else:
                        self._purge()
                        wait = self._idle_wait()
                except DatabaseError as e:
                    logger.error("outbox: the database is unavailable (%s); retrying", _one_line(e))
                    connection.close()
                    wait = 1.0
                self._wake.wait(wait)
        # The delivery threads are gone; their connections are closed from here.
        for wrapper in thread_connections:
            wrapper.inc_thread_sharing()
            wrapper.close()
        connection.close()
        if listener is not None:
            listener.join(timeout=2)

    def _deliver_in_thread(self, row: OutboxMessage) -> None:
        close_old_connections()
        try:
            self.deliver(row)
        except DatabaseError as e:
            # The outcome could not be recorded: the lease runs out and the row is delivered again.
            logger.error("outbox: could not record %s #%s (%s)", row.kind, row.id, _one_line(e))
        finally:
            close_old_connections()

    def _has_due_rows(self) -> bool:
        # A plain read: on SQLite it takes no write lock, so polling does not queue the issuer's writers.
        return OutboxMessage.objects.filter(state=OutboxState.PENDING, available_at__lte=self.clock()).exists()

    def _idle_wait(self) -> float:
        if connection.vendor != "postgresql":
            return idp_settings.OUTBOX_POLL_INTERVAL
        # Notifications announce new rows; a row waiting out a backoff announces nothing.
        next_due = OutboxMessage.objects.filter(state=OutboxState.PENDING).aggregate(at=Min("available_at"))["at"]
        if next_due is None:
            return IDLE_CEILING
        return min(IDLE_CEILING, max(0.0, (next_due - self.clock()).total_seconds()))

    def _listen(self, stop: threading.Event) -> None:
        """LISTEN on the outbox channel over a connection of its own; each notification wakes the loop."""
        import psycopg

        while not stop.is_set():
            try:
                params = connection.get_connection_params()
                with psycopg.connect(**params, autocommit=True) as listening:
                    listening.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # anything committed before LISTEN took effect
                    while not stop.is_set():
                        for _ in listening.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except psycopg.Error as e:
                logger.error("outbox: listening for new work failed (%s); polling meanwhile", _one_line(e))
                self._wake.set()
                stop.wait(1.0)

    # Outcomes.

    def _failed(self, row: OutboxMessage, error: Exception, *, refused: bool) -> str:
        now = self.clock()
        refusals = row.refusals + refused
        message = _one_line(error)
        if (refused and refusals >= idp_settings.OUTBOX_MAX_REFUSALS) or now >= row.give_up_at:
            state = OutboxState.DEAD
            logger.error("outbox: gave up on %s #%s after %s attempts: %s", row.kind, row.id, row.attempts, message)
        else:
            state = OutboxState.PENDING
            logger.warning("outbox: %s #%s failed (attempt %s): %s", row.kind, row.id, row.attempts, message)
        self._record(
            row, state=state, refusals=refusals, last_error=message,
            available_at=now + timedelta(seconds=backoff(row.attempts, rng=self.rng)),
        )
        return state

    def _record(self, row: OutboxMessage, **changes: Any) -> None:
        # Only while the claim is still ours: after the lease ran out another worker owns the row.
        if not OutboxMessage.objects.filter(id=row.id, claim=row.claim).update(**changes):
            logger.warning("outbox: %s #%s was taken over before its outcome was recorded", row.kind, row.id)

    def _give_up_expired(self, now: datetime) -> None:
        # Rows that were tried and are past their age; a row never tried gets its one attempt.
        OutboxMessage.objects.filter(state=OutboxState.PENDING, give_up_at__lte=now, attempts__gt=0).update(
            state=OutboxState.DEAD,
        )

    def _purge(self) -> None:
        now = self.clock()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        keep = timedelta(seconds=idp_settings.OUTBOX_KEEP_DELIVERED)
        OutboxMessage.objects.filter(state=OutboxState.DELIVERED, delivered_at__lt=now - keep).delete()


def _one_line(error: Exception) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:500]
