"""The revocation stores every worker of an app shares: its database, or a Django cache (Redis)."""
from __future__ import annotations

from typing import Any

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from relying_party.revocation_stores import (
    REORDER_WINDOW,
    CacheRevocationStore,
    DatabaseRevocationStore,
    StoreUnavailable,
    jti_digest,
)
from relying_party.revocations import LogoutTokenReplayed, Revocation
from tests.relying_party.conftest import FakeClock
from tests.relying_party.issuer import T0

RETENTION = 3610


def revocation(value: str = "session-1", kind: str = "sid", *, expires_at: float = T0 + RETENTION) -> Revocation:
    return Revocation(kind, value, T0, expires_at)  # type: ignore[arg-type]


@pytest.fixture
def monotonic() -> FakeClock:
    return FakeClock(1000.0)


def test_the_jti_digest_binds_the_issuer_and_has_a_fixed_length():
    assert jti_digest("https://a", "1") != jti_digest("https://b", "1")
    assert len(jti_digest("https://a", "x" * 10_000)) == 64


# --- The database store -------------------------------------------------------------------------------


@pytest.fixture
def database(revocation_tables, clock, monotonic):
    global RevokedSession, LogoutTokenUse
    RevokedSession, LogoutTokenUse = revocation_tables

    def make() -> DatabaseRevocationStore:
        return DatabaseRevocationStore(clock=clock, monotonic=monotonic)

    return make


def test_a_worker_reads_what_another_recorded(database):
    writer, reader = database(), database()

    writer.record(revocation("session-1"), jti="j1", jti_expires_at=T0 + 130)

    assert reader.changes() == [revocation("session-1")]
    assert RevokedSession.objects.count() == 1
    assert LogoutTokenUse.objects.get().jti_digest == "j1"


def test_a_jti_is_taken_once_and_a_replay_keeps_nothing(database):
    store = database()
    store.record(revocation("session-1"), jti="j1", jti_expires_at=T0 + 130)

    with pytest.raises(LogoutTokenReplayed):
        store.record(revocation("session-2"), jti="j1", jti_expires_at=T0 + 130)

    assert list(RevokedSession.objects.values_list("value", flat=True)) == ["session-1"]


def test_reads_are_incremental_once_the_reorder_window_has_passed(database, monotonic):
    writer, reader = database(), database()
    writer.record(revocation("session-1"), jti="j1", jti_expires_at=T0 + 130)
    assert [r.value for r in reader.changes()] == ["session-1"]
    monotonic.advance(REORDER_WINDOW + 1)
    reader.changes()

    writer.record(revocation("session-2"), jti="j2", jti_expires_at=T0 + 130)
    with CaptureQueriesContext(connection) as queries:
        changes = reader.changes()

    assert [r.value for r in changes] == ["session-2"]
    [query] = [q["sql"] for q in queries.captured_queries if "relying_party_revokedsession" in q["sql"]]
    first_id = RevokedSession.objects.get(value="session-1").id
    assert f'"id" > {first_id}' in query.replace("`", '"')


def test_a_row_committed_late_below_the_cursor_is_still_read_within_the_window(database, monotonic):
    reader = database()
    RevokedSession.objects.create(id=100, kind="sid", value="early-commit", logged_out_at=T0, expires_at=T0 + 60)
    assert [r.value for r in reader.changes()] == ["early-commit"]

    # Its number was taken before 100's, but it committed after the read.
    RevokedSession.objects.create(id=50, kind="sid", value="late-commit", logged_out_at=T0, expires_at=T0 + 60)
    monotonic.advance(REORDER_WINDOW / 2)

    assert "late-commit" in [r.value for r in reader.changes()]


def test_expired_rows_are_neither_read_nor_kept(database, clock):
    store = database()
    store.record(revocation("short", expires_at=T0 + 10), jti="j1", jti_expires_at=T0 + 10)
    clock.advance(11)

    assert store.changes() == []
    store.record(revocation("session-2"), jti="j2", jti_expires_at=T0 + 200)

    assert list(RevokedSession.objects.values_list("value", flat=True)) == ["session-2"]
    assert list(LogoutTokenUse.objects.values_list("jti_digest", flat=True)) == ["j2"]


def test_a_jti_expired_may_be_taken_again(database, clock):
    store = database()
    store.record(revocation(), jti="j1", jti_expires_at=T0 + 5)
    clock.advance(6)

    store.record(revocation(), jti="j1", jti_expires_at=T0 + 200)

    assert LogoutTokenUse.objects.count() == 1


def test_a_database_that_cannot_be_written_is_store_unavailable(database, monkeypatch):
    from django.db import OperationalError

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("the database is down")

    monkeypatch.setattr(RevokedSession, "save", fail)
    with pytest.raises(StoreUnavailable, match="down"):
        database().record(revocation(), jti="j1", jti_expires_at=T0 + 130)
    assert LogoutTokenUse.objects.count() == 0


# --- The cache store ---------------------------------------------------------------------------------


@pytest.fixture
def shared_cache() -> LocMemCache:
    cache = LocMemCache("kunci-test-revocations", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
    cache.clear()
    return cache


@pytest.fixture
def cached(shared_cache, clock, monotonic):
    def make(namespace: str = "app1", cache: Any = None) -> CacheRevocationStore:
        return CacheRevocationStore(
            cache or shared_cache, namespace=namespace, retention=RETENTION, clock=clock, monotonic=monotonic
        )

    return make


def test_through_the_cache_a_worker_reads_what_another_recorded_once(cached):
    writer, reader = cached(), cached()

    writer.record(revocation("session-1"), jti="j1", jti_expires_at=T0 + 130)
    writer.record(revocation("42", "sub"), jti="j2", jti_expires_at=T0 + 130)

    assert reader.changes() == [revocation("session-1"), revocation("42", "sub")]
    assert reader.changes() == []


def test_through_the_cache_a_jti_is_taken_once(cached):
    store = cached()
    store.record(revocation("session-1"), jti="j1", jti_expires_at=T0 + 130)

    with pytest.raises(LogoutTokenReplayed):
        cached().record(revocation("session-2"), jti="j1", jti_expires_at=T0 + 130)

    assert [r.value for r in cached().changes()] == ["session-1"]


def test_a_fresh_worker_reads_back_over_the_whole_retention(cached, clock):
    cached().record(revocation("early"), jti="j1", jti_expires_at=T0 + 130)
    clock.advance(RETENTION - 60)

    assert [r.value for r in cached().changes()] == ["early"]


def test_expired_entries_are_not_read(cached, clock):
    cached().record(revocation("short", expires_at=T0 + 100), jti="j1", jti_expires_at=T0 + 130)
    clock.advance(101)

    assert cached().changes() == []


def test_entries_are_read_across_a_minute_boundary(cached, clock):
    writer, reader = cached(), cached()
    reader.changes()
    writer.record(revocation("before"), jti="j1", jti_expires_at=T0 + 130)
    clock.advance(60)
    writer.record(revocation("after"), jti="j2", jti_expires_at=T0 + 190)

    assert [r.value for r in reader.changes()] == ["before", "after"]


def test_a_numbered_entry_not_yet_written_is_waited_for_then_passed(cached, shared_cache, monotonic, clock):
    writer, reader = cached(), cached()
    writer.record(revocation("first"), jti="j1", jti_expires_at=T0 + 130)
    writer.record(revocation("second"), jti="j2", jti_expires_at=T0 + 130)
    counter = f"{writer.prefix}:{int(clock.now // 60)}"
    # The writer of entry 1 has its number but has not written it yet.
    entry = shared_cache.get(f"{counter}:1")
    shared_cache.delete(f"{counter}:1")

    assert reader.changes() == []  # nothing is read past the gap
    shared_cache.set(f"{counter}:1", entry)
    assert [r.value for r in reader.changes()] == ["first", "second"]

    writer.record(revocation("third"), jti="j3", jti_expires_at=T0 + 130)
    writer.record(revocation("fourth"), jti="j4", jti_expires_at=T0 + 130)
    shared_cache.delete(f"{counter}:3")  # lost for good
    assert reader.changes() == []
    monotonic.advance(REORDER_WINDOW + 1)
    assert [r.value for r in reader.changes()] == ["fourth"]


def test_two_apps_sharing_a_cache_keep_their_own_revocations(cached):
    cached("app1").record(revocation("session-1"), jti="j1", jti_expires_at=T0 + 130)

    assert cached("app2").changes() == []
    cached("app2").record(revocation("session-2"), jti="j1", jti_expires_at=T0 + 130)  # its own jti space


class BrokenCache(LocMemCache):
    def add(self, *args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("redis is down")


def test_a_cache_that_cannot_be_written_is_store_unavailable(cached):
    store = cached(cache=BrokenCache("kunci-test-broken", {}))

    with pytest.raises(StoreUnavailable, match="redis is down"):
        store.record(revocation(), jti="j1", jti_expires_at=T0 + 130)


def test_a_failed_write_lets_the_same_token_be_delivered_again(cached, shared_cache, monkeypatch):
    store = cached()
    monkeypatch.setattr(shared_cache, "incr", lambda *args, **kwargs: (_ for _ in ()).throw(ConnectionError("lost")))

    with pytest.raises(StoreUnavailable):
        store.record(revocation(), jti="j1", jti_expires_at=T0 + 130)
    monkeypatch.undo()

    store.record(revocation(), jti="j1", jti_expires_at=T0 + 130)
    assert [r.value for r in cached().changes()] == ["session-1"]
