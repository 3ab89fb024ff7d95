"""keys' management commands: ensure_keys, rotate_keys and keys."""
from __future__ import annotations

import base64
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from keys import keyring
from keys.exceptions import RotationLost
from keys.management.commands.rotate_keys import Command as RotateKeysCommand
from keys.models import KeyState, SigningKey
from tests.keys.snapshot import kids_in, states

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


# --- ensure_keys --------------------------------------------------------------------------------


def test_ensure_keys_command_reports_the_kids_it_created_then_that_keys_are_present(clock):
    first = run("ensure_keys")

    active, upcoming = kids_in(KeyState.ACTIVE)[0], kids_in(KeyState.NEXT)[0]
    assert first == f"created signing keys: {active}, {upcoming}\n"
    assert run("ensure_keys") == "signing keys present\n"
    assert states() == {active: "active", upcoming: "next"}


# --- rotate_keys --------------------------------------------------------------------------------


def test_rotate_keys_straight_after_ensure_keys_refuses_with_returncode_3_and_the_wait(initial_keys, clock):
    clock.advance(60)

    with pytest.raises(CommandError) as excinfo:
        run("rotate_keys")

    assert excinfo.value.returncode == 3
    assert str(excinfo.value) == (
        f"next key {initial_keys.next} has been published for 60 s; relying parties may cache "
        "the JWKS for 300 s; run again in 300 s or pass --force"
    )
    assert kids_in(KeyState.ACTIVE) == [initial_keys.active]


def test_rotate_keys_force_rotates_and_prints_the_new_active_kid(initial_keys, clock):
    output = run("rotate_keys", "--force")

    created = kids_in(KeyState.NEXT)[0]
    assert output == (
        f"rotated: {initial_keys.next} is active, {initial_keys.active} retired, {created} is next\n"
    )
    assert kids_in(KeyState.ACTIVE) == [initial_keys.next]


def test_rotate_keys_prints_the_purged_kids(initial_keys, clock):
    clock.advance(360)
    run("rotate_keys")
    clock.advance(keyring.retirement_window().total_seconds())

    output = run("rotate_keys", "--force")

    assert output.splitlines()[-1] == f"purged: {initial_keys.active}"


def test_rotate_keys_if_older_than_30d_prints_not_rotated_for_a_young_key(initial_keys, clock):
    clock.advance(3600)

    output = run("rotate_keys", "--if-older-than", "30d")

    assert output == f"not rotated: active key {initial_keys.active} is 1 h old; it rotates after 30 d\n"
    assert kids_in(KeyState.ACTIVE) == [initial_keys.active]


def test_rotate_keys_if_older_than_rotates_an_old_key(initial_keys, clock):
    clock.advance(91)

    output = run("rotate_keys", "--if-older-than", "90s", "--force")

    assert output.startswith(f"rotated: {initial_keys.next} is active")


@pytest.mark.parametrize(
    "duration", ["30", "30 days", "1w", "-5d", "d", "1.5h", "99999999999d", "99999999999999s"]
)
def test_rotate_keys_refuses_a_bad_duration_with_a_clear_command_error(initial_keys, clock, duration):
    with pytest.raises(CommandError, match="--if-older-than") as excinfo:
        run("rotate_keys", f"--if-older-than={duration}")

    assert excinfo.value.returncode == 1
    assert kids_in(KeyState.ACTIVE) == [initial_keys.active]


def test_rotate_keys_revoke_of_the_active_key_reports_its_replacements(initial_keys, clock):
    output = run("rotate_keys", f"--revoke={initial_keys.active}")

    created = kids_in(KeyState.NEXT)[0]
    assert output == (
        f"revoked {initial_keys.active}\n"
        f"active key is now {initial_keys.next}\n"
        f"new next key {created}\n"
    )


def test_rotate_keys_revoke_of_a_retired_key_reports_only_the_revocation(initial_keys, clock):
    run("rotate_keys", "--force")

    assert run("rotate_keys", f"--revoke={initial_keys.active}") == f"revoked {initial_keys.active}\n"


@pytest.mark.django_db(transaction=True)  # run_from_argv closes the connection when it ends
def test_rotate_keys_revoke_from_the_command_line_takes_a_kid_that_starts_with_a_dash(clock, capsys, t0):
    # One thumbprint in 64 starts with "-"; argparse alone reads it as a missing value.
    dashed = "-" + "A" * 42
    SigningKey.objects.create(
        kid=dashed, state=KeyState.RETIRED, key_size=2048, public_jwk={}, created_at=t0, retired_at=t0
    )

    RotateKeysCommand().run_from_argv(["manage.py", "rotate_keys", "--revoke", dashed])

    assert capsys.readouterr().out == f"revoked {dashed}\n"
    assert states()[dashed] == "revoked"


def test_rotate_keys_revoke_of_an_unknown_kid_is_a_command_error(initial_keys, clock):
    with pytest.raises(CommandError, match="no unrevoked key has kid 'nope'"):
        run("rotate_keys", "--revoke=nope")


def test_rotate_keys_reports_a_lost_race_as_not_rotated(initial_keys, clock, monkeypatch):
    def lose(**kwargs):
        raise RotationLost("another rotation changed the keyring first; nothing was changed")

    monkeypatch.setattr("keys.management.commands.rotate_keys.rotate_keys", lose)

    output = run("rotate_keys")

    assert output == "not rotated: another rotation changed the keyring first; nothing was changed\n"


# --- keys ---------------------------------------------------------------------------------------


def test_keys_lists_kid_state_and_verify_until(initial_keys, clock):
    clock.advance(360)
    run("rotate_keys")
    new_next = kids_in(KeyState.NEXT)[0]
    run("rotate_keys", f"--revoke={new_next}")
    retired_until = (clock() + keyring.retirement_window()).strftime("%Y-%m-%d %H:%M:%S")

    lines = run("keys").splitlines()

    assert lines[0].split() == ["kid", "state", "bits", "created", "activated", "retired", "verify-until"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert len(rows) == 4
    assert rows[initial_keys.active].split()[1] == "retired"
    assert rows[initial_keys.active].endswith(retired_until)
    assert rows[initial_keys.next].split()[1] == "active"
    assert rows[initial_keys.next].endswith("while published")
    assert rows[new_next].split()[1] == "revoked"
    assert rows[new_next].endswith("never (revoked)")


def test_keys_never_prints_private_material(initial_keys, clock):
    run("rotate_keys", "--force")
    sealed = [bytes(blob) for blob in SigningKey.objects.values_list("sealed_private_key", flat=True) if blob]

    output = run("keys")

    assert "PRIVATE" not in output.upper()
    for blob in sealed:
        for encoded in (base64.b64encode(blob), base64.urlsafe_b64encode(blob), blob.hex().encode()):
            assert encoded.decode()[:24] not in output
    # Nothing longer than a kid that looks like base64 or hex: no n, no sealed bytes, no DER.
    assert not re.search(r"[A-Za-z0-9+/_=-]{44,}", output)
