"""The JWK Set a process serves: from memory, re-read every JWKS_CACHE_SECONDS, kept through outages."""
from __future__ import annotations

import logging

import pytest
from django.db import OperationalError

from keys import keyring

pytestmark = pytest.mark.django_db


def _kids(document) -> set[str]:
    return {member["kid"] for member in document["keys"]}


@pytest.fixture
def database_down(monkeypatch):
    """Make every read of the keyring fail as if the database were unreachable."""

    def unreachable(now=None):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    def down() -> None:
        monkeypatch.setattr(keyring, "published_keys", unreachable)

    return down


def test_the_served_set_is_the_published_set(initial_keys, configure_keys, monotonic):
    configure_keys(JWKS_CACHE_SECONDS=5)

    assert _kids(keyring.served_jwks()) == {initial_keys.active, initial_keys.next}


def test_within_jwks_cache_seconds_the_set_comes_from_memory(initial_keys, configure_keys, monotonic, django_assert_num_queries):
    configure_keys(JWKS_CACHE_SECONDS=5)
    first = keyring.served_jwks()
    monotonic.advance(4.9)

    with django_assert_num_queries(0):
        assert keyring.served_jwks() == first


def test_after_jwks_cache_seconds_a_new_key_is_served(initial_keys, configure_keys, monotonic):
    configure_keys(JWKS_CACHE_SECONDS=5)
    keyring.served_jwks()
    new = keyring.new_key(keyring.KeyState.RETIRED, keyring._now())
    new.retired_at = keyring._now()
    new.save()

    assert new.kid not in _kids(keyring.served_jwks())
    monotonic.advance(5)
    assert new.kid in _kids(keyring.served_jwks())


def test_a_rotation_in_this_process_is_served_at_once(initial_keys, configure_keys, monotonic):
    configure_keys(JWKS_CACHE_SECONDS=5)
    keyring.served_jwks()

    rotation = keyring.rotate_keys(force=True)

    assert rotation.created in _kids(keyring.served_jwks())


def test_during_a_database_outage_the_last_good_set_is_served(initial_keys, configure_keys, monotonic, database_down, caplog):
    configure_keys(JWKS_CACHE_SECONDS=5)
    good = keyring.served_jwks()
    database_down()
    monotonic.advance(60)

    with caplog.at_level(logging.WARNING, logger="kunci.keys"):
        assert keyring.served_jwks() == good
    assert "serving the last good JWKS" in caplog.text


def test_during_an_outage_the_keyring_is_tried_again_only_after_jwks_cache_seconds(initial_keys, configure_keys, monotonic, monkeypatch):
    configure_keys(JWKS_CACHE_SECONDS=5)
    keyring.served_jwks()
    attempts = []

    def unreachable(now=None):
        attempts.append(now)
        raise OperationalError("timeout expired")

    monkeypatch.setattr(keyring, "published_keys", unreachable)
    monotonic.advance(5)
    for _ in range(3):
        keyring.served_jwks()
    monotonic.advance(5)
    keyring.served_jwks()

    assert len(attempts) == 2


def test_a_process_that_never_read_the_keyring_raises_the_database_error(initial_keys, database_down):
    database_down()

    with pytest.raises(OperationalError):
        keyring.served_jwks()


def test_a_programming_error_is_not_hidden_behind_the_last_good_set(initial_keys, configure_keys, monotonic, monkeypatch):
    configure_keys(JWKS_CACHE_SECONDS=5)
    keyring.served_jwks()
    monotonic.advance(5)
    monkeypatch.setattr(keyring, "published_keys", lambda now=None: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        keyring.served_jwks()
