import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import Argon2PasswordHasher, MD5PasswordHasher, PBKDF2PasswordHasher
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from idp import login
from idp.hashers import (
    Argon2idPasswordHasher,
    BoundedHashingMixin,
    PasswordHashingBusy,
    hashing_slot,
    hashing_slots,
)
from settings.idp import PASSWORD_HASHERS as ISSUER_HASHERS
from tests.conftest import PASSWORD, run_concurrently

pytestmark = pytest.mark.django_db


class BoundedMD5PasswordHasher(BoundedHashingMixin, MD5PasswordHasher):
    """A cheap hasher under the same bound as the issuer's own."""


class GatedMD5PasswordHasher(MD5PasswordHasher):
    """Record how many hashes run at once; each one waits for the test to open the gate."""

    active = 0
    most_active = 0
    entered = 0
    lock = threading.Lock()
    gate = threading.Semaphore(0)

    def encode(self, password, salt):
        cls = GatedMD5PasswordHasher
        with cls.lock:
            cls.active += 1
            cls.entered += 1
            cls.most_active = max(cls.most_active, cls.active)
        try:
            assert cls.gate.acquire(timeout=30), "the test never opened the gate"
            return super().encode(password, salt)
        finally:
            with cls.lock:
                cls.active -= 1

    @classmethod
    def reset(cls) -> None:
        cls.active = cls.most_active = cls.entered = 0
        cls.gate = threading.Semaphore(0)


class BoundedGatedMD5PasswordHasher(BoundedHashingMixin, GatedMD5PasswordHasher):
    pass


# Stored hashes for the gated tests, made without passing the gate.
PLAIN_MD5 = MD5PasswordHasher().encode(PASSWORD, "saltsaltsaltsaltsaltsa")
BOUNDED_MD5 = ["tests.idp.test_hashers.BoundedMD5PasswordHasher"]
GATED = ["tests.idp.test_hashers.BoundedGatedMD5PasswordHasher"]


def _login(username: str, password: str = PASSWORD, ip: str = "10.0.0.1"):
    return APIClient().post(
        "/api/login", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


def _poll(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_every_hasher_of_the_issuer_is_bounded_and_argon2id_comes_first():
    hashers = [import_string(path) for path in ISSUER_HASHERS]

    assert hashers[0] is Argon2idPasswordHasher
    assert all(issubclass(hasher, BoundedHashingMixin) for hasher in hashers)


def test_argon2id_uses_owasps_19_mib_2_passes_1_lane():
    encoded = Argon2idPasswordHasher().encode(PASSWORD, "saltsaltsaltsalt")

    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


@override_settings(PASSWORD_HASHERS=ISSUER_HASHERS)
@pytest.mark.parametrize(
    "old_hasher",
    [Argon2PasswordHasher, type("FastPBKDF2", (PBKDF2PasswordHasher,), {"iterations": 1000})],
    ids=["django-default-argon2", "pbkdf2"],
)
def test_a_hash_with_older_parameters_verifies_and_is_upgraded_on_the_next_login(keyring, old_hasher):
    alice = get_user_model().objects.create_user("alice", "alice@example.com")
    alice.password = old_hasher().encode(PASSWORD, old_hasher().salt())
    alice.save()

    response = _login("alice")

    alice.refresh_from_db()
    assert response.status_code == 200
    assert alice.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert _login("alice").status_code == 200


@override_settings(PASSWORD_HASHERS=BOUNDED_MD5, KUNCI_IDP={"PASSWORD_HASHING_SLOTS": 2, "PASSWORD_HASHING_WAIT": 0})
@pytest.mark.parametrize("username", ["alice", "nobody"], ids=["known-user", "unknown-user-dummy-hash"])
def test_a_login_while_every_hashing_slot_is_taken_answers_503_with_retry_after_and_is_not_counted(
    keyring, user, username
):
    slots = hashing_slots()
    for _ in range(2):
        slots.acquire()
    try:
        response = _login(username)
    finally:
        for _ in range(2):
            slots.release()

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Too many password checks in progress; try again shortly.",
        "code": "server_busy",
    }
    assert response["Retry-After"] == "1"
    assert login.login_throttle().counts(username, "10.0.0.1") == {"username_ip": 0, "username": 0, "ip": 0}
    assert _login("alice").status_code == 200


@pytest.mark.django_db(transaction=True)
@override_settings(PASSWORD_HASHERS=GATED, KUNCI_IDP={"PASSWORD_HASHING_SLOTS": 2, "PASSWORD_HASHING_WAIT": 0})
def test_concurrent_logins_never_hash_more_than_the_bound_at_once_and_the_rest_get_503(keyring):
    User = get_user_model()
    User.objects.bulk_create([User(username=f"u{i}", password=PLAIN_MD5) for i in range(6)])
    GatedMD5PasswordHasher.reset()
    busy: list[int] = []

    def log_in(i: int) -> int:
        status = _login(f"u{i}", ip=f"10.2.0.{i}").status_code
        if status == 503:
            busy.append(i)
        return status

    outcome: dict[str, list[int]] = {}
    runner = threading.Thread(
        target=lambda: outcome.update(statuses=run_concurrently([lambda i=i: log_in(i) for i in range(6)]))
    )
    runner.start()
    # Every login is either hashing (held at the gate) or already answered 503.
    _poll(lambda: GatedMD5PasswordHasher.active + len(busy) == 6, "every login to hash or be refused")
    for _ in range(6):
        GatedMD5PasswordHasher.gate.release()
    runner.join()

    assert GatedMD5PasswordHasher.most_active == 2
    assert sorted(outcome["statuses"]) == [200, 200, 503, 503, 503, 503]


@pytest.mark.django_db(transaction=True)
@override_settings(PASSWORD_HASHERS=GATED, KUNCI_IDP={"PASSWORD_HASHING_SLOTS": 1, "PASSWORD_HASHING_WAIT": 30})
def test_logins_queue_for_a_hashing_slot_within_the_wait_and_all_succeed(keyring):
    User = get_user_model()
    User.objects.bulk_create([User(username=f"u{i}", password=PLAIN_MD5) for i in range(3)])
    GatedMD5PasswordHasher.reset()
    outcome: dict[str, list[int]] = {}
    runner = threading.Thread(
        target=lambda: outcome.update(statuses=run_concurrently([lambda i=i: _login(f"u{i}").status_code for i in range(3)]))
    )
    runner.start()
    for k in range(1, 4):
        _poll(lambda: GatedMD5PasswordHasher.entered >= k, f"hash {k} to start")
        GatedMD5PasswordHasher.gate.release()
    runner.join()

    assert GatedMD5PasswordHasher.most_active == 1
    assert outcome["statuses"] == [200, 200, 200]


@override_settings(KUNCI_IDP={"PASSWORD_HASHING_SLOTS": 1, "PASSWORD_HASHING_WAIT": 0})
def test_a_hasher_that_verifies_through_its_own_encode_holds_one_slot():
    class FastPBKDF2(BoundedHashingMixin, PBKDF2PasswordHasher):
        iterations = 1000

    hasher = FastPBKDF2()
    encoded = hasher.encode(PASSWORD, hasher.salt())

    assert hasher.verify(PASSWORD, encoded)
    with hashing_slot(), hashing_slot():
        assert hashing_slots().acquire(timeout=0) is False
    assert hashing_slots().acquire(timeout=0) is True
    hashing_slots().release()


@override_settings(KUNCI_IDP={"PASSWORD_HASHING_SLOTS": 1, "PASSWORD_HASHING_WAIT": 0})
def test_a_slot_held_by_another_thread_makes_hashing_busy():
    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        with hashing_slot():
            taken.set()
            done.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(30)
    try:
        with pytest.raises(PasswordHashingBusy):
            BoundedMD5PasswordHasher().encode(PASSWORD, "salt")
    finally:
        done.set()
        holder.join()
    assert BoundedMD5PasswordHasher().encode(PASSWORD, "salt").startswith("md5$")


@pytest.mark.parametrize("knobs", [{"PASSWORD_HASHING_SLOTS": 0}, {"PASSWORD_HASHING_WAIT": -1}])
def test_hashing_refuses_a_bound_below_one_slot_or_a_negative_wait(settings, knobs):
    settings.KUNCI_IDP = knobs

    with pytest.raises(ImproperlyConfigured):
        with hashing_slot():
            pass
