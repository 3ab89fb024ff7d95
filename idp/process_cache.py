"""A small in-memory cache of one process, whose entries expire: for what is costly to read and seldom changes.

Its users say what may be kept and how long (idp/oauth/client_cache.py, idp/accounts/browser.py).
Entries are shared by the process's threads: read them, never change them. At most `max_entries`
are kept; a full cache first drops what has expired, then everything, which costs a read each
and never grows memory past the bound.

`forget()` bumps a generation: a read that began before it (`generation` taken, then the
database read) must not store what it read, or it could put back what was just forgotten.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ProcessCache(Generic[K, V]):
    def __init__(self, *, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Take it before reading what `remember()` will store."""
        return self._generation

    def cached(self, key: K) -> V | None:
        """Return what is kept under `key` and not yet expired, or None."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    def remember(self, key: K, value: V, seconds: float, *, generation: int) -> None:
        """Keep `value` under `key` for `seconds` (0 keeps nothing), unless forget() ran since `generation`."""
        if seconds <= 0:
            return
        with self._lock:
            if generation != self._generation:
                return
            self._make_room()
            self._entries[key] = (self._clock() + seconds, value)

    def forget(self, key: K | None = None) -> None:
        """Drop what is kept under `key` (everything when None)."""
        with self._lock:
            self._generation += 1
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def _make_room(self) -> None:
        if len(self._entries) < self._max_entries:
            return
        now = self._clock()
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
