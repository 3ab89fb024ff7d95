"""keys.checks: the system checks on the KEK, the key size and the pre-publication window."""
from __future__ import annotations

import secrets

import pytest
from django.test import override_settings

from keys.checks import check_key_encryption_key, check_key_lifecycle


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_test_settings_pass_every_keys_check():
    assert check_key_encryption_key(None) == []
    assert check_key_lifecycle(None) == []


def test_demo_kek_with_debug_off_warns_w001(configure_keys):
    configure_keys(KEY_ENCRYPTION_KEY_IS_DEMO=True)

    with override_settings(DEBUG=False):
        messages = check_key_encryption_key(None)

    assert ids(messages) == ["keys.W001"]
    assert "KUNCI_KEY_ENCRYPTION_KEY" in messages[0].hint


def test_demo_kek_with_debug_on_does_not_warn(configure_keys):
    configure_keys(KEY_ENCRYPTION_KEY_IS_DEMO=True)

    with override_settings(DEBUG=True):
        assert check_key_encryption_key(None) == []


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_kek_is_error_e001(configure_keys, missing):
    configure_keys(KEY_ENCRYPTION_KEY=missing)

    assert ids(check_key_encryption_key(None)) == ["keys.E001"]


@pytest.mark.parametrize(
    "malformed",
    ["x", secrets.token_urlsafe(16), secrets.token_urlsafe(48)],
    ids=["not-base64url", "16-bytes", "48-bytes"],
)
def test_malformed_kek_is_error_e002_that_does_not_repeat_it(configure_keys, malformed):
    configure_keys(KEY_ENCRYPTION_KEY=malformed)

    messages = check_key_encryption_key(None)

    assert ids(messages) == ["keys.E002"]
    assert malformed not in messages[0].msg


@pytest.mark.parametrize("size", [1024, 2047, 8192, "2048"])
def test_key_size_outside_2048_3072_4096_is_error_e003(configure_keys, size):
    configure_keys(RSA_KEY_SIZE=size)

    assert ids(check_key_lifecycle(None)) == ["keys.E003"]


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_allowed_key_sizes_pass(configure_keys, size):
    configure_keys(RSA_KEY_SIZE=size)

    assert check_key_lifecycle(None) == []


def test_negative_jwks_max_age_is_error_e004(configure_keys):
    configure_keys(JWKS_MAX_AGE=-1)

    assert ids(check_key_lifecycle(None)) == ["keys.E004"]


@pytest.mark.parametrize(("max_age", "window"), [(360, 360), (600, 360)])
def test_jwks_max_age_not_below_prepublication_is_error_e005(configure_keys, max_age, window):
    configure_keys(JWKS_MAX_AGE=max_age, PREPUBLICATION_SECONDS=window)

    messages = check_key_lifecycle(None)

    assert ids(messages) == ["keys.E005"]
    assert f"({max_age} s)" in messages[0].msg


def test_jwks_max_age_just_below_prepublication_passes(configure_keys):
    configure_keys(JWKS_MAX_AGE=359, PREPUBLICATION_SECONDS=360)

    assert check_key_lifecycle(None) == []
