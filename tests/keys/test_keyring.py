"""keys.keyring: creating, storing, caching, publishing and looking up signing keys."""
from __future__ import annotations

import base64
import secrets
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from django.db import IntegrityError, connection, transaction

from keys import jwk, keyring, sealing
from keys.exceptions import KeyEncryptionKeyError, KeySizeError, NoActiveKey, SealedKeyError, UnknownKey
from keys.models import KeyState, SigningKey
from tests.keys.snapshot import kids_in, states

pytestmark = pytest.mark.django_db

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth"}


def _private_der(key: keyring.ActiveKey) -> bytes:
    return key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _must_not_reopen(kid: str, sealed: bytes):
    pytest.fail(f"reopened the sealed key {kid} although the active kid had not changed")


def _rotate_on_another_replica(monkeypatch, now) -> keyring.Rotation:
    # Another replica's rotation cannot reach into this process's cache.
    with monkeypatch.context() as patch:
        patch.setattr(keyring, "forget_cached_keys", lambda: None)
        return keyring.rotate_keys(now=now, force=True)


# --- ensure_keys ------------------------------------------------------------------------------


def test_ensure_keys_creates_exactly_one_active_and_one_next_key(t0):
    created = keyring.ensure_keys(now=t0)

    assert len(created) == 2
    assert sorted(states().values()) == ["active", "next"]
    assert set(created) == set(states())


def test_ensure_keys_is_idempotent(t0):
    first = keyring.ensure_keys(now=t0)

    assert keyring.ensure_keys(now=t0 + timedelta(hours=1)) == []
    assert set(states()) == set(first)


@pytest.mark.django_db(transaction=True)
def test_replicas_starting_at_once_create_one_active_and_one_next_between_them(run_as_replicas, t0):
    outcomes = run_as_replicas(lambda: keyring.ensure_keys(now=t0), lambda: keyring.ensure_keys(now=t0))

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert sorted(states().values()) == ["active", "next"]
    assert sorted(len(created) for created in outcomes) == [0, 2]


def test_ensure_keys_creates_only_the_missing_next_key(initial_keys, t0):
    SigningKey.objects.filter(kid=initial_keys.next).delete()

    created = keyring.ensure_keys(now=t0)

    assert len(created) == 1
    assert kids_in(KeyState.NEXT) == created
    assert kids_in(KeyState.ACTIVE) == [initial_keys.active]


def test_new_keys_record_size_public_jwk_and_dates(initial_keys, t0):
    active = SigningKey.objects.get(kid=initial_keys.active)
    upcoming = SigningKey.objects.get(kid=initial_keys.next)

    for key in (active, upcoming):
        assert key.key_size == 2048
        assert key.public_jwk["kid"] == key.kid
        assert key.kid == jwk.rsa_thumbprint(key.public_jwk["n"], key.public_jwk["e"])
        assert key.created_at == t0
    assert active.activated_at == t0
    assert upcoming.activated_at is None


def test_new_keys_use_the_configured_rsa_key_size(db, configure_keys, t0):
    configure_keys(RSA_KEY_SIZE=3072)

    keyring.ensure_keys(now=t0)

    assert set(SigningKey.objects.values_list("key_size", flat=True)) == {3072}


def test_generate_key_refuses_a_size_outside_2048_3072_4096(db, configure_keys, t0):
    configure_keys(RSA_KEY_SIZE=1024)

    with pytest.raises(KeySizeError, match="1024"):
        keyring.ensure_keys(now=t0)
    assert states() == {}


def test_ensure_keys_without_a_kek_raises_and_creates_nothing(db, configure_keys, t0):
    configure_keys(KEY_ENCRYPTION_KEY=None)

    with pytest.raises(KeyEncryptionKeyError, match="not set"):
        keyring.ensure_keys(now=t0)
    assert states() == {}


# --- the database's own guarantees ------------------------------------------------------------


def test_database_refuses_a_second_active_key(initial_keys, t0):
    template = SigningKey.objects.get(kid=initial_keys.active)

    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.create(
            kid="second-active", state=KeyState.ACTIVE, key_size=2048,
            public_jwk=template.public_jwk, created_at=t0,
        )


def test_database_refuses_a_second_next_key(initial_keys, t0):
    template = SigningKey.objects.get(kid=initial_keys.next)

    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.create(
            kid="second-next", state=KeyState.NEXT, key_size=2048,
            public_jwk=template.public_jwk, created_at=t0,
        )


def test_database_refuses_an_update_that_makes_next_a_second_active(initial_keys):
    with pytest.raises(IntegrityError), transaction.atomic():
        SigningKey.objects.filter(kid=initial_keys.next).update(state=KeyState.ACTIVE)


# --- signing_key --------------------------------------------------------------------------------


def test_signing_key_returns_the_active_key_whose_public_half_is_published(initial_keys):
    active = keyring.signing_key()

    assert active.kid == initial_keys.active
    published = SigningKey.objects.get(kid=active.kid).public_jwk
    assert jwk.public_jwk(active.private_key.public_key()) == published


def test_the_first_signature_of_a_fresh_deployment_creates_the_active_and_next_keys(db):
    active = keyring.signing_key()

    assert SigningKey.objects.get(state=KeyState.ACTIVE).kid == active.kid
    assert SigningKey.objects.filter(state=KeyState.NEXT).count() == 1


def test_signing_key_raises_no_active_key_when_none_can_be_created(db, monkeypatch):
    monkeypatch.setattr(keyring, "ensure_keys", lambda now=None: [])

    with pytest.raises(NoActiveKey, match="ensure_keys"):
        keyring.signing_key()


def test_signing_key_is_cached_for_signing_key_cache_seconds(
    initial_keys, configure_keys, monotonic, django_assert_num_queries
):
    configure_keys(SIGNING_KEY_CACHE_SECONDS=10)
    with django_assert_num_queries(1):
        first = keyring.signing_key()

    monotonic.advance(9.9)
    with django_assert_num_queries(0):
        again = keyring.signing_key()

    assert again is first


def test_signing_key_rereads_the_active_kid_after_the_ttl_without_reopening_an_unchanged_key(
    initial_keys, configure_keys, monotonic, django_assert_num_queries, monkeypatch
):
    configure_keys(SIGNING_KEY_CACHE_SECONDS=10)
    first = keyring.signing_key()
    monkeypatch.setattr(keyring, "_open_private_key", _must_not_reopen)

    monotonic.advance(10)
    with django_assert_num_queries(1):
        again = keyring.signing_key()

    assert again is first


def test_signing_key_picks_up_another_replicas_rotation_after_the_cache_ttl(
    initial_keys, configure_keys, monotonic, monkeypatch, t0
):
    configure_keys(SIGNING_KEY_CACHE_SECONDS=10)
    assert keyring.signing_key().kid == initial_keys.active

    _rotate_on_another_replica(monkeypatch, t0 + timedelta(minutes=10))
    monotonic.advance(5)
    assert keyring.signing_key().kid == initial_keys.active  # still inside the TTL

    monotonic.advance(5)
    assert keyring.signing_key().kid == initial_keys.next


def test_signing_key_under_test_settings_rereads_every_time(initial_keys, django_assert_num_queries):
    keyring.signing_key()

    with django_assert_num_queries(1):
        keyring.signing_key()


def test_signing_key_under_the_wrong_kek_raises_sealed_key_error(initial_keys, configure_keys):
    wrong = secrets.token_urlsafe(32)
    configure_keys(KEY_ENCRYPTION_KEY=wrong)

    with pytest.raises(SealedKeyError) as excinfo:
        keyring.signing_key()
    assert wrong not in str(excinfo.value)


def test_changing_kunci_keys_forgets_the_cached_signing_key(initial_keys, configure_keys, monotonic):
    configure_keys(SIGNING_KEY_CACHE_SECONDS=10)
    keyring.signing_key()

    configure_keys(KEY_ENCRYPTION_KEY=secrets.token_urlsafe(32))

    with pytest.raises(SealedKeyError):
        keyring.signing_key()


# --- private material at rest -----------------------------------------------------------------


def test_the_stored_private_key_is_sealed_not_der_or_pem(initial_keys):
    der = _private_der(keyring.signing_key())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sealed_private_key FROM {SigningKey._meta.db_table} WHERE kid = %s",
            [initial_keys.active],
        )
        stored = bytes(cursor.fetchone()[0])

    assert b"PRIVATE KEY" not in stored
    assert der not in stored
    assert der[-64:] not in stored
    assert base64.b64encode(der)[:64] not in stored
    assert sealing.unseal(keyring._key_encryption_key(), stored, initial_keys.active.encode()) == der


def test_repr_and_str_of_a_signing_key_never_show_the_sealed_private_key(initial_keys):
    key = SigningKey.objects.get(kid=initial_keys.active)
    sealed = bytes(key.sealed_private_key)

    for text in (repr(key), str(key)):
        assert text == f"<SigningKey {key.kid} active>"
        assert sealed.hex()[:32] not in text
        assert base64.b64encode(sealed).decode()[:32] not in text
        assert "PRIVATE" not in text


def test_repr_of_the_loaded_active_key_hides_the_private_key(initial_keys):
    active = keyring.signing_key()

    assert "private_key" not in repr(active)
    assert active.kid in repr(active)


# --- published_keys, jwks, verifying_key -----------------------------------------------------


def _retire_and_revoke(initial_keys, t0):
    """Rotate twice and revoke a retired key: one key of each state, the retirement at t0 + 10 min."""
    keyring.rotate_keys(now=t0 + timedelta(minutes=10))
    second = keyring.rotate_keys(now=t0 + timedelta(minutes=20))
    keyring.revoke_key(second.retired, now=t0 + timedelta(minutes=21))
    return initial_keys.active, second.retired


def test_published_keys_are_next_active_and_retired_inside_their_window(initial_keys, t0):
    retired, revoked = _retire_and_revoke(initial_keys, t0)
    now = t0 + timedelta(minutes=30)

    published = {key.kid: key.state for key in keyring.published_keys(now=now)}

    assert sorted(published.values()) == ["active", "next", "retired"]
    assert retired in published
    assert revoked not in published


def test_published_keys_exclude_retired_keys_past_their_window_even_before_the_purge(initial_keys, t0):
    retired, _ = _retire_and_revoke(initial_keys, t0)
    retired_at = t0 + timedelta(minutes=10)
    window = keyring.retirement_window()

    inside = [key.kid for key in keyring.published_keys(now=retired_at + window - timedelta(seconds=1))]
    past = [key.kid for key in keyring.published_keys(now=retired_at + window)]

    assert retired in inside
    assert retired not in past
    assert states()[retired] == "retired"  # not purged yet


def test_published_keys_do_not_load_the_sealed_private_keys(initial_keys, django_assert_num_queries):
    with django_assert_num_queries(1):
        keys = keyring.published_keys()

    assert all("sealed_private_key" in key.get_deferred_fields() for key in keys)


def test_jwks_members_are_public_only(initial_keys, t0):
    keyring.rotate_keys(now=t0 + timedelta(minutes=10))

    document = keyring.jwks(now=t0 + timedelta(minutes=11))

    assert set(document) == {"keys"}
    assert len(document["keys"]) == 3
    for member in document["keys"]:
        assert set(member) == {"kty", "use", "alg", "kid", "n", "e"}
        assert not PRIVATE_MEMBERS & set(member)
        assert member["kid"] == jwk.rsa_thumbprint(member["n"], member["e"])


def test_jwks_lists_keys_oldest_first(initial_keys, t0):
    rotation = keyring.rotate_keys(now=t0 + timedelta(minutes=10))

    kids = [member["kid"] for member in keyring.jwks(now=t0 + timedelta(minutes=11))["keys"]]

    assert kids[-1] == rotation.created
    assert set(kids[:2]) == {initial_keys.active, initial_keys.next}


@pytest.mark.parametrize("which", ["active", "next"])
def test_verifying_key_returns_the_public_key_of_a_published_kid(initial_keys, which):
    kid = getattr(initial_keys, which)

    public_key = keyring.verifying_key(kid)

    assert jwk.public_jwk(public_key) == SigningKey.objects.get(kid=kid).public_jwk


def test_verifying_key_accepts_a_retired_kid_inside_its_window(initial_keys, t0):
    keyring.rotate_keys(now=t0 + timedelta(minutes=10))

    assert keyring.verifying_key(initial_keys.active, now=t0 + timedelta(hours=1))


def test_verifying_key_refuses_an_unknown_kid(initial_keys):
    with pytest.raises(UnknownKey):
        keyring.verifying_key("no-such-kid")


def test_verifying_key_refuses_a_revoked_kid_at_once(initial_keys):
    keyring.verifying_key(initial_keys.next)  # cached public numbers must not outlive the revocation

    keyring.revoke_key(initial_keys.next)

    with pytest.raises(UnknownKey):
        keyring.verifying_key(initial_keys.next)


def test_verifying_key_refuses_a_retired_kid_past_its_window(initial_keys, t0):
    keyring.rotate_keys(now=t0 + timedelta(minutes=10))
    expiry = t0 + timedelta(minutes=10) + keyring.retirement_window()

    with pytest.raises(UnknownKey):
        keyring.verifying_key(initial_keys.active, now=expiry)


def test_verifying_key_refuses_a_purged_kid(initial_keys, t0):
    keyring.rotate_keys(now=t0 + timedelta(minutes=10))
    later = t0 + timedelta(minutes=10) + keyring.retirement_window()
    assert keyring.purge_expired_keys(now=later) == (initial_keys.active,)

    with pytest.raises(UnknownKey):
        keyring.verifying_key(initial_keys.active, now=t0 + timedelta(minutes=11))


@pytest.mark.parametrize(
    "kid",
    ["\x00", "kid\x00with-nul", "\ud800", "kid with spaces", "ключ", "A" * 65, ""],
    ids=["nul", "embedded-nul", "lone-surrogate", "spaces", "non-ascii", "too-long", "empty"],
)
def test_verifying_key_refuses_a_kid_no_thumbprint_can_have_as_unknown_key(initial_keys, kid):
    # A token header is JSON, so "\u0000" and "\ud800" arrive as they are; they must be
    # UnknownKey like any other stranger, not a database or encoding error.
    with pytest.raises(UnknownKey):
        keyring.verifying_key(kid)


def test_unknown_key_error_does_not_echo_an_arbitrarily_long_kid(initial_keys):
    with pytest.raises(UnknownKey) as excinfo:
        keyring.verifying_key("A" * 10_000)

    assert len(str(excinfo.value)) < 120


def test_retirement_window_is_the_retired_key_lifetime_plus_the_signing_cache_bound(configure_keys):
    configure_keys(RETIRED_KEY_LIFETIME=timedelta(hours=2), SIGNING_KEY_CACHE_SECONDS=10)

    assert keyring.retirement_window() == timedelta(hours=2, seconds=10)
