"""keys.keyring lifecycle: rotate, purge and revoke, with the guard that makes pre-publication hold."""
from __future__ import annotations

from datetime import timedelta

import pytest

from keys import keyring
from keys.exceptions import NextKeyNotReady, RotationLost, UnknownKey
from keys.models import KeyState, SigningKey
from tests.keys.snapshot import assert_one_active_and_one_next, kids_in, states

pytestmark = pytest.mark.django_db

READY = timedelta(seconds=360)  # PREPUBLICATION_SECONDS under settings.test


def test_rotation_promotes_next_to_active_retires_active_and_creates_a_new_next(initial_keys, t0):
    now = t0 + READY

    rotation = keyring.rotate_keys(now=now)

    assert rotation.rotated
    assert (rotation.retired, rotation.activated) == (initial_keys.active, initial_keys.next)
    assert states() == {
        initial_keys.active: "retired",
        initial_keys.next: "active",
        rotation.created: "next",
    }
    assert SigningKey.objects.get(kid=initial_keys.active).retired_at == now
    assert SigningKey.objects.get(kid=initial_keys.next).activated_at == now
    assert SigningKey.objects.get(kid=rotation.created).created_at == now


def test_rotation_refuses_while_next_key_is_younger_than_prepublication_window(initial_keys, t0):
    with pytest.raises(NextKeyNotReady) as excinfo:
        keyring.rotate_keys(now=t0 + timedelta(seconds=60))

    assert str(excinfo.value) == (
        f"next key {initial_keys.next} has been published for 60 s; relying parties may cache "
        "the JWKS for 300 s; run again in 300 s or pass --force"
    )
    assert excinfo.value.kid == initial_keys.next
    assert states() == {initial_keys.active: "active", initial_keys.next: "next"}


def test_rotation_is_allowed_exactly_when_the_prepublication_window_has_passed(initial_keys, t0):
    with pytest.raises(NextKeyNotReady):
        keyring.rotate_keys(now=t0 + READY - timedelta(seconds=1))

    assert keyring.rotate_keys(now=t0 + READY).rotated


def test_refusal_rounds_the_wait_up_so_that_running_again_after_it_succeeds(initial_keys, t0):
    early = t0 + READY - timedelta(milliseconds=400)

    with pytest.raises(NextKeyNotReady) as excinfo:
        keyring.rotate_keys(now=early)

    assert "published for 359 s" in str(excinfo.value)
    assert "run again in 1 s" in str(excinfo.value)
    assert keyring.rotate_keys(now=early + timedelta(seconds=1)).rotated


def test_refusal_counts_from_the_next_keys_creation_and_uses_the_configured_windows(
    initial_keys, configure_keys, t0
):
    configure_keys(JWKS_MAX_AGE=60, PREPUBLICATION_SECONDS=90)

    with pytest.raises(NextKeyNotReady) as excinfo:
        keyring.rotate_keys(now=t0 + timedelta(seconds=30))

    assert "published for 30 s" in str(excinfo.value)
    assert "cache the JWKS for 60 s" in str(excinfo.value)
    assert "run again in 60 s" in str(excinfo.value)
    assert keyring.rotate_keys(now=t0 + timedelta(seconds=90)).rotated


def test_force_rotates_a_next_key_published_this_very_second(initial_keys, t0):
    rotation = keyring.rotate_keys(now=t0, force=True)

    assert rotation.rotated
    assert kids_in(KeyState.ACTIVE) == [initial_keys.next]


def test_if_older_than_skips_a_young_active_key_and_changes_nothing(initial_keys, t0):
    rotation = keyring.rotate_keys(now=t0 + timedelta(days=29), if_older_than=timedelta(days=30))

    assert not rotation.rotated
    assert rotation.reason == f"active key {initial_keys.active} is 29 d old; it rotates after 30 d"
    assert states() == {initial_keys.active: "active", initial_keys.next: "next"}


def test_if_older_than_rotates_an_old_active_key(initial_keys, t0):
    rotation = keyring.rotate_keys(now=t0 + timedelta(days=30), if_older_than=timedelta(days=30))

    assert rotation.rotated
    assert rotation.activated == initial_keys.next


def test_if_older_than_counts_the_active_keys_age_from_its_activation_not_its_creation(initial_keys, t0):
    # The next key was created at t0 but only began signing a day later.
    keyring.rotate_keys(now=t0 + timedelta(days=1))

    rotation = keyring.rotate_keys(now=t0 + timedelta(days=1, hours=1), if_older_than=timedelta(hours=12))

    assert not rotation.rotated
    assert "is 1 h old" in rotation.reason


def test_if_older_than_still_purges_expired_retired_keys(initial_keys, t0):
    keyring.rotate_keys(now=t0 + READY)
    later = t0 + READY + keyring.retirement_window()

    rotation = keyring.rotate_keys(now=later, if_older_than=timedelta(days=30))

    assert not rotation.rotated
    assert rotation.purged == (initial_keys.active,)
    assert initial_keys.active not in states()


def test_purge_keeps_a_retired_key_until_its_retirement_window_has_passed(initial_keys, t0):
    retired_at = t0 + READY
    keyring.rotate_keys(now=retired_at)

    just_inside = retired_at + keyring.retirement_window() - timedelta(seconds=1)

    assert keyring.purge_expired_keys(now=just_inside) == ()
    assert states()[initial_keys.active] == "retired"


def test_purge_deletes_retired_keys_once_their_retirement_window_has_passed(initial_keys, t0):
    retired_at = t0 + READY
    keyring.rotate_keys(now=retired_at)

    purged = keyring.purge_expired_keys(now=retired_at + keyring.retirement_window())

    assert purged == (initial_keys.active,)
    assert not SigningKey.objects.filter(kid=initial_keys.active).exists()


def test_purge_leaves_active_next_and_revoked_keys_alone(initial_keys, t0):
    keyring.revoke_key(initial_keys.next, now=t0)

    assert keyring.purge_expired_keys(now=t0 + timedelta(days=3650)) == ()
    assert sorted(states().values()) == ["active", "next", "revoked"]


def test_rotation_purges_retired_keys_whose_window_has_passed(initial_keys, t0):
    first = keyring.rotate_keys(now=t0 + READY)
    later = t0 + READY + keyring.retirement_window()

    second = keyring.rotate_keys(now=later)

    assert second.purged == (initial_keys.active,)
    assert states() == {first.activated: "retired", first.created: "active", second.created: "next"}


def test_revoking_the_active_key_promotes_next_and_creates_a_new_next(initial_keys, t0):
    result = keyring.revoke_key(initial_keys.active, now=t0 + timedelta(seconds=5))

    assert result.rotated
    assert (result.revoked, result.activated) == (initial_keys.active, initial_keys.next)
    assert states() == {
        initial_keys.active: "revoked",
        initial_keys.next: "active",
        result.created: "next",
    }
    revoked = SigningKey.objects.get(kid=initial_keys.active)
    assert revoked.revoked_at == t0 + timedelta(seconds=5)
    assert SigningKey.objects.get(kid=initial_keys.next).activated_at == t0 + timedelta(seconds=5)


def test_revoking_the_next_key_creates_a_new_next_and_keeps_the_active_key(initial_keys, t0):
    result = keyring.revoke_key(initial_keys.next, now=t0)

    assert not result.rotated
    assert result.activated is None
    assert states() == {
        initial_keys.active: "active",
        initial_keys.next: "revoked",
        result.created: "next",
    }


def test_revoking_a_retired_key_only_unpublishes_it(initial_keys, t0):
    rotation = keyring.rotate_keys(now=t0 + READY)
    before = states()

    result = keyring.revoke_key(initial_keys.active, now=t0 + READY + timedelta(minutes=1))

    assert (result.rotated, result.activated, result.created) == (False, None, None)
    assert states() == {**before, initial_keys.active: "revoked"}
    assert initial_keys.active not in {key.kid for key in keyring.published_keys(now=t0 + READY)}
    assert rotation.activated in kids_in(KeyState.ACTIVE)


@pytest.mark.parametrize("which", ["active", "next"])
def test_revocation_destroys_the_sealed_private_key(initial_keys, t0, which):
    kid = getattr(initial_keys, which)

    keyring.revoke_key(kid, now=t0)

    assert SigningKey.objects.get(kid=kid).sealed_private_key is None


def test_revocation_destroys_the_sealed_private_key_of_a_retired_key(initial_keys, t0):
    keyring.rotate_keys(now=t0 + READY)

    keyring.revoke_key(initial_keys.active, now=t0 + READY)

    assert SigningKey.objects.get(kid=initial_keys.active).sealed_private_key is None


def test_revoking_an_unknown_or_already_revoked_kid_raises_unknown_key(initial_keys, t0):
    keyring.revoke_key(initial_keys.next, now=t0)

    with pytest.raises(UnknownKey):
        keyring.revoke_key(initial_keys.next, now=t0)
    with pytest.raises(UnknownKey):
        keyring.revoke_key("no-such-kid", now=t0)


def test_revoking_the_active_key_makes_this_process_sign_with_the_promoted_key_at_once(
    initial_keys, configure_keys, monotonic, t0
):
    configure_keys(SIGNING_KEY_CACHE_SECONDS=10)
    assert keyring.signing_key().kid == initial_keys.active

    keyring.revoke_key(initial_keys.active, now=t0)

    assert keyring.signing_key().kid == initial_keys.next


def test_rotating_makes_this_process_sign_with_the_promoted_key_at_once(
    initial_keys, configure_keys, monotonic, t0
):
    configure_keys(SIGNING_KEY_CACHE_SECONDS=10)
    assert keyring.signing_key().kid == initial_keys.active

    keyring.rotate_keys(now=t0 + READY)

    assert keyring.signing_key().kid == initial_keys.next


# --- one rotation wins --------------------------------------------------------------------------


def _read_before_the_other_replica(monkeypatch, snapshot: dict[str, SigningKey]) -> None:
    """Make rotate_keys see `snapshot` as its active and next keys, as a replica that read them
    just before another replica's change committed; every other query goes to the database."""
    real = SigningKey.objects

    class StaleReads:
        def defer(self, *fields):
            return self

        def get(self, *, state):
            return snapshot[state]

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(SigningKey, "objects", StaleReads())


def _snapshot() -> dict[str, SigningKey]:
    return {
        KeyState.ACTIVE: SigningKey.objects.defer("sealed_private_key").get(state=KeyState.ACTIVE),
        KeyState.NEXT: SigningKey.objects.defer("sealed_private_key").get(state=KeyState.NEXT),
    }


def test_a_rotation_from_a_stale_view_loses_to_the_rotation_that_committed_first(
    initial_keys, monkeypatch, t0
):
    stale = _snapshot()
    winner = keyring.rotate_keys(now=t0 + READY)
    after_winner = states()

    _read_before_the_other_replica(monkeypatch, stale)
    with pytest.raises(RotationLost):
        keyring.rotate_keys(now=t0 + READY + timedelta(seconds=1))

    monkeypatch.undo()
    assert states() == after_winner
    assert kids_in(KeyState.ACTIVE) == [winner.activated]


def test_a_lost_rotation_rolls_back_its_half_done_retirement(initial_keys, monkeypatch, t0):
    # Another replica revoked the next key: this rotation's retirement of the active key succeeds,
    # its promotion of the next key finds nothing, and the retirement must not survive.
    stale = _snapshot()
    keyring.revoke_key(initial_keys.next, now=t0 + timedelta(seconds=1))
    after_revocation = states()

    _read_before_the_other_replica(monkeypatch, stale)
    with pytest.raises(RotationLost):
        keyring.rotate_keys(now=t0 + READY)

    monkeypatch.undo()
    assert states() == after_revocation
    assert kids_in(KeyState.ACTIVE) == [initial_keys.active]


@pytest.mark.django_db(transaction=True)
def test_two_replicas_rotating_at_once_make_exactly_one_rotation(run_as_replicas, t0):
    keyring.ensure_keys(now=t0)
    original = states()

    outcomes = run_as_replicas(
        lambda: keyring.rotate_keys(now=t0 + READY),
        lambda: keyring.rotate_keys(now=t0 + READY),
    )

    won = [outcome for outcome in outcomes if isinstance(outcome, keyring.Rotation)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, RotationLost)]
    assert (len(won), len(lost)) == (1, 1), outcomes
    assert_one_active_and_one_next()
    assert len(states()) == len(original) + 1
    assert kids_in(KeyState.RETIRED) == [won[0].retired]


def test_exactly_one_active_and_one_next_after_any_sequence(initial_keys, t0):
    now = t0
    published_ever: set[str] = set(states())

    def step(seconds: float) -> None:
        nonlocal now
        now += timedelta(seconds=seconds)

    steps = [
        lambda: keyring.rotate_keys(now=now, force=True),
        lambda: keyring.revoke_key(kids_in(KeyState.ACTIVE)[0], now=now),
        lambda: keyring.revoke_key(kids_in(KeyState.NEXT)[0], now=now),
        lambda: keyring.rotate_keys(now=now),
        lambda: keyring.revoke_key(kids_in(KeyState.RETIRED)[0], now=now),
        lambda: keyring.rotate_keys(now=now, if_older_than=timedelta(days=2)),
        lambda: keyring.rotate_keys(now=now, if_older_than=timedelta(hours=1)),
        lambda: keyring.purge_expired_keys(now=now),
        lambda: keyring.ensure_keys(now=now),
        lambda: keyring.rotate_keys(now=now),
    ]
    for index, operation in enumerate(steps):
        step(400 if index % 3 else 86_400)
        operation()
        assert_one_active_and_one_next()
        published_ever |= set(states())

    # Something happened along the way: keys were made, retired, revoked and purged.
    assert {"retired", "revoked"} <= set(states().values())
    assert len(published_ever) > len(states())
