"""Fixtures shared by the issuer's tests."""
from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connection
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"
T = TypeVar("T")


def run_concurrently(calls: list[Callable[[], T]]) -> list[T]:
    """Start every call at once, each in its own thread with its own database connection; return their results."""
    barrier = threading.Barrier(len(calls))
    results: list[T] = []

    def run(call: Callable[[], T]) -> None:
        barrier.wait()
        try:
            results.append(call())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def pytest_report_header(config) -> list[str]:
    from django.conf import settings

    from tests.e2e.browser import Chromium
    from tests.e2e.oidc_client import NodeClient

    # The browser and openid-client tests skip when their tools are missing; say so before they run.
    return [
        f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}",
        Chromium.find().describe(),
        NodeClient.describe(),
    ]


@pytest.fixture(autouse=True)
def _no_revocation_refresher_threads(monkeypatch):
    """A relying party's revocation view reads its store when it starts, and in tests only when told to.

    Its background refresher would hold a database connection of its own across tests; tests that
    are about that thread start it themselves.
    """
    monkeypatch.setattr("relying_party.revocations._start_daemon_thread", lambda work: None)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Start every test with empty throttling counters."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_cached_keys():
    """The signing key and the JWK Set are cached per process: no test may see another test's keys."""
    from keys.keyring import forget_cached_keys

    forget_cached_keys()
    yield
    forget_cached_keys()


@pytest.fixture(autouse=True)
def _no_remembered_sign_ins():
    """Each process remembers which OP session a Django session names: no test may see another's."""
    from idp.accounts import browser

    browser._sign_ins.forget()
    yield
    browser._sign_ins.forget()


# Signing keys handed to the keyring outside its own tests: 16 of each size per process, in turn.
_KEY_POOL: dict[int, list[rsa.RSAPrivateKey]] = defaultdict(list)
_KEY_POOL_SIZE = 16
_keys_handed = itertools.count()
_KEYRING_TESTS = Path(__file__).parent / "keys"


@pytest.fixture(autouse=True)
def _pooled_signing_keys(request, monkeypatch):
    """Hand the keyring pooled RSA keys instead of new ones, except in the keyring's own tests.

    A 2048-bit key takes about 50 ms to generate and most tests start with a keyring of two: that
    was minutes of every run. Handed in turn, the keys one test gets differ unless it makes more
    than the pool's 16; tests/keys, which test the keyring itself, generate every key.
    """
    if request.node.path.is_relative_to(_KEYRING_TESTS):
        return

    def generate(size: int) -> rsa.RSAPrivateKey:
        pool = _KEY_POOL[size]
        if len(pool) < _KEY_POOL_SIZE:
            pool.append(rsa.generate_private_key(public_exponent=65537, key_size=size))
            return pool[-1]
        return pool[next(_keys_handed) % _KEY_POOL_SIZE]

    monkeypatch.setattr("keys.keyring.generate_rsa_key", generate)


@pytest.fixture(autouse=True)
def _throttle_windows_hold_still(monkeypatch):
    """Keep every throttle window of a test in one window of the clock.

    The counters are keyed by window; a test that starts a second before a window ends would see
    its counts restart halfway. Tests about the window give their throttle a clock of their own.
    """
    monkeypatch.setattr("idp.throttling.wall_clock", lambda: 1_000_000_030.0)


@pytest.fixture
def keyring(db):
    """Return the kids of a fresh keyring: one active key and one next key."""
    from keys.keyring import ensure_keys

    ensure_keys()
    from keys.models import SigningKey

    return {key.state: key.kid for key in SigningKey.objects.all()}


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("root", "root@example.com", PASSWORD, is_staff=True)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def login(api, keyring):
    """Return a function that logs a user in and returns the JSON token pair."""

    def _login(user, password: str = PASSWORD) -> dict[str, str]:
        response = api.post("/api/login", {"username": user.username, "password": password}, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    return _login
