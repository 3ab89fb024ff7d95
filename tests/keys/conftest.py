"""Fixtures of the keyring's tests: fixed clocks, a fresh keyring, settings overrides."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections, transaction
from django.test import override_settings

from keys import keyring
from keys.models import KeyState, SigningKey

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Kids:
    active: str
    next: str


class FakeNow:
    """Stand-in for `keyring._now`: a wall clock that moves only when told."""

    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


class FakeMonotonic:
    """Stand-in for `keyring._monotonic`."""

    def __init__(self, start: float = 1000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds




@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def initial_keys(db) -> Kids:
    """Create the first active and next keys at T0."""
    keyring.ensure_keys(now=T0)
    return Kids(
        active=SigningKey.objects.get(state=KeyState.ACTIVE).kid,
        next=SigningKey.objects.get(state=KeyState.NEXT).kid,
    )


@pytest.fixture
def clock(monkeypatch) -> FakeNow:
    """Freeze `keyring._now` at T0, for code paths (the commands) that take no `now=`."""
    fake = FakeNow(T0)
    monkeypatch.setattr(keyring, "_now", fake)
    return fake


@pytest.fixture
def monotonic(monkeypatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    monkeypatch.setattr(keyring, "_monotonic", fake)
    return fake


@pytest.fixture
def configure_keys():
    """Return a function that overrides members of KUNCI_KEYS until the test ends."""
    overrides: list[override_settings] = []

    def configure(**changes) -> None:
        override = override_settings(KUNCI_KEYS={**django_settings.KUNCI_KEYS, **changes})
        override.enable()
        overrides.append(override)

    yield configure
    for override in reversed(overrides):
        override.disable()



@pytest.fixture
def run_as_replicas(monkeypatch):
    """Return a function that runs calls in threads, each a replica with its own connection.

    Every transaction the keyring opens waits until all replicas reach it, so all of them have
    read the keyring before any of them changes it: the race, every time. Returns each call's
    result or exception.
    """

    def run(*calls: Callable[[], Any]) -> list[Any]:
        barrier = threading.Barrier(len(calls), timeout=30)

        class LockstepTransactions:
            @staticmethod
            def atomic(*args, **kwargs):
                barrier.wait()
                return transaction.atomic(*args, **kwargs)

        outcomes: list[Any] = [None] * len(calls)

        def replica(index: int, call: Callable[[], Any]) -> None:
            try:
                outcomes[index] = call()
            except Exception as e:  # the outcome under test
                outcomes[index] = e
            finally:
                connections.close_all()

        with monkeypatch.context() as patch:
            patch.setattr(keyring, "transaction", LockstepTransactions)
            threads = [threading.Thread(target=replica, args=item) for item in enumerate(calls)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        return outcomes

    return run
