"""Read the keyring's rows as plain data, so tests compare states rather than model instances."""
from __future__ import annotations

from keys.models import KeyState, SigningKey


def states() -> dict[str, str]:
    """Return {kid: state} of every key in the keyring."""
    return dict(SigningKey.objects.values_list("kid", "state"))


def kids_in(state: KeyState) -> list[str]:
    """Return the kids of the keys in `state`, oldest first."""
    rows = SigningKey.objects.filter(state=state).order_by("created_at", "kid")
    return list(rows.values_list("kid", flat=True))


def assert_one_active_and_one_next() -> None:
    assert len(kids_in(KeyState.ACTIVE)) == 1
    assert len(kids_in(KeyState.NEXT)) == 1
