"""keys.conf: KUNCI_KEYS over defaults, read at call time and reloaded on setting_changed."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from keys.conf import KEYS_DEFAULTS, keys_settings


def test_a_member_missing_from_kunci_keys_falls_back_to_its_default():
    with override_settings(KUNCI_KEYS={}):
        assert keys_settings.RSA_KEY_SIZE == KEYS_DEFAULTS["RSA_KEY_SIZE"]
        assert keys_settings.RETIRED_KEY_LIFETIME == timedelta(days=1)


def test_changing_kunci_keys_is_seen_by_the_next_read(configure_keys):
    before = keys_settings.JWKS_MAX_AGE

    configure_keys(JWKS_MAX_AGE=before + 1)

    assert keys_settings.JWKS_MAX_AGE == before + 1


def test_the_override_ends_with_the_test_that_made_it():
    with override_settings(KUNCI_KEYS={"JWKS_MAX_AGE": 7}):
        assert keys_settings.JWKS_MAX_AGE == 7

    assert keys_settings.JWKS_MAX_AGE != 7


def test_an_unknown_member_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="Invalid KUNCI_KEYS setting: 'NOPE'"):
        keys_settings.NOPE

