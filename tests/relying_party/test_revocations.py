"""RevocationView: each worker's in-memory copy of the ended sessions, refreshed from the shared store."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from relying_party.exceptions import InvalidSetting
from relying_party.revocations import Revocation, RevocationView
from tests.relying_party.issuer import T0


class FakeStore:
    """A store whose next changes() answer is set by the test; it can be made to fail."""

    def __init__(self) -> None:
        self.pending: list[Revocation] = []
        self.reads = 0
        self.failure: Exception | None = None

    def record(self, revocation: Revocation, *, jti: str, jti_expires_at: float) -> None:
        self.pending.append(revocation)

    def changes(self) -> list[Revocation]:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        answer, self.pending = self.pending, []
        return answer


def sid(value: str = "session-1", *, expires_at: float = T0 + 3600) -> Revocation:
    return Revocation("sid", value, T0, expires_at)


def sub(value: str = "42", *, logged_out_at: float = T0, expires_at: float = T0 + 3600) -> Revocation:
    return Revocation("sub", value, logged_out_at, expires_at)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def view(store, clock) -> RevocationView:
    return RevocationView(store, clock=clock, start_thread=lambda work: None)


def claims(**overrides) -> dict:
    return {"sid": "session-1", "sub": "42", "iat": T0 - 60, **overrides}


def test_a_fresh_view_revokes_nothing(view):
    assert not view.is_revoked(claims())
    assert len(view) == 0


def test_a_revoked_sid_revokes_every_token_of_that_session_only(view):
    view.add([sid("session-1")])

    assert view.is_revoked(claims())
    assert view.is_revoked(claims(iat=T0))
    assert not view.is_revoked(claims(sid="session-2"))


def test_a_revoked_sid_revokes_tokens_issued_up_to_the_logout_and_the_leeway_only(store, clock):
    # The issuer ended this app's grant only (RFC 7009 revocation): a later single sign-on to the
    # app under the same OP session gets tokens issued past the logout, which stay good; the
    # leeway keeps refusing a token minted just before the end by an issuer clock running ahead.
    view = RevocationView(store, leeway=10, clock=clock, start_thread=lambda work: None)
    view.add([sid("session-1")])

    assert view.is_revoked(claims(iat=T0 + 10))
    assert not view.is_revoked(claims(iat=T0 + 11))
    assert view.is_revoked({"sid": "session-1", "sub": "42"})  # no iat: it cannot show it came later
    assert view.is_revoked(claims(iat="later"))


def test_a_revoked_sub_revokes_that_users_tokens_issued_at_or_before_the_logout(view):
    view.add([sub("42", logged_out_at=T0)])

    assert view.is_revoked(claims(sid="another", iat=T0 - 1))
    assert view.is_revoked(claims(sid="another", iat=T0))
    # A sign-in after the logout is a new session: its tokens stay good.
    assert not view.is_revoked(claims(sid="another", iat=T0 + 1))
    assert not view.is_revoked(claims(sub="43", sid="another"))


def test_a_token_without_a_numeric_iat_of_a_revoked_sub_is_revoked(view):
    view.add([sub("42")])

    assert view.is_revoked({"sub": "42"})
    assert view.is_revoked({"sub": "42", "iat": "yesterday"})


def test_the_latest_logout_of_a_user_wins(view):
    view.add([sub("42", logged_out_at=T0 + 100), sub("42", logged_out_at=T0)])

    assert view.is_revoked(claims(sid="another", iat=T0 + 50))


def test_unhashable_claims_are_never_revoked_and_never_raise(view):
    view.add([sid("session-1"), sub("42")])

    assert not view.is_revoked({"sid": ["session-1"], "sub": {"id": "42"}, "iat": T0})


def test_expired_revocations_are_dropped(view, clock):
    view.add([sid("old", expires_at=T0 + 10), sid("current", expires_at=T0 + 1000)])
    assert len(view) == 2

    clock.advance(11)
    view.add([])

    assert len(view) == 1
    assert not view.is_revoked(claims(sid="old"))
    assert view.is_revoked(claims(sid="current"))


def test_a_revocation_already_expired_is_not_added(view):
    view.add([sid("gone", expires_at=T0 - 1)])

    assert len(view) == 0


def test_refresh_reads_the_store_into_the_view(view, store, clock):
    store.pending = [sid("session-9")]

    assert view.refresh() is True

    assert view.is_revoked(claims(sid="session-9"))
    assert view.refreshed_at == clock.now


def test_a_failed_read_keeps_the_view_and_is_logged_once_until_it_works(view, store, caplog):
    view.add([sid("session-1")])
    store.failure = OSError("connection refused\nby the database")

    with caplog.at_level(logging.WARNING, logger="kunci.relying_party.revocations"):
        assert view.refresh() is False
        assert view.refresh() is False
        store.failure = None
        assert view.refresh() is True

    assert view.is_revoked(claims())
    assert [record.getMessage() for record in caplog.records] == [
        "the revocation store could not be read: connection refused by the database",
        "the revocation store can be read again",
    ]


def test_start_reads_once_at_once_then_hands_the_loop_to_a_background_thread(store, clock):
    started = []
    view = RevocationView(store, clock=clock, start_thread=started.append)
    store.pending = [sid()]

    view.start()
    view.start()  # once per view

    assert view.is_revoked(claims())
    assert store.reads == 1
    assert len(started) == 1


def test_the_background_refresher_reads_every_interval_until_stopped(store):
    threads: list[threading.Thread] = []

    def start_thread(work) -> None:
        threads.append(threading.Thread(target=work, daemon=True))
        threads[-1].start()

    view = RevocationView(store, refresh_interval=0.01, start_thread=start_thread)
    view.start()
    store.pending = [sid("late")]
    # Polled with a deadline: the thread reads every 10 ms.
    deadline = time.monotonic() + 5
    while not view.is_revoked(claims(sid="late")) and time.monotonic() < deadline:
        time.sleep(0.005)

    assert view.is_revoked(claims(sid="late"))
    view.stop()
    threads[0].join(timeout=5)
    assert not threads[0].is_alive()


@pytest.mark.parametrize("interval", [0, 0.001, 61, "0.5", True, None])
def test_an_unusable_refresh_interval_is_refused(store, interval):
    with pytest.raises(InvalidSetting, match="REVOCATION_REFRESH"):
        RevocationView(store, refresh_interval=interval)
