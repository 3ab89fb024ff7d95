import os
import subprocess
import sys

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.test import override_settings
from rest_framework.test import APIClient

from idp import login
from idp.hashers import PasswordHashingBusy
from idp.throttling import LoginThrottle
from keys.exceptions import KeyringError
from tests.conftest import PASSWORD, run_concurrently

pytestmark = pytest.mark.django_db

LIMITS = {
    "LOGIN_FAILURES_PER_USERNAME_IP": 3,
    "LOGIN_FAILURES_PER_IP": 5,
    "LOGIN_FAILURES_PER_USERNAME": 6,
    "LOGIN_FAILURE_WINDOW": 60,
}


def _login(api, username: str, password: str = "wrong", ip: str = "10.0.0.1"):
    return api.post("/api/login", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip)


def _counts(username: str, ip: str) -> dict[str, int]:
    return login.login_throttle().counts(username, ip)


@override_settings(KUNCI_IDP=LIMITS)
def test_login_answers_429_with_retry_after_after_n_refusals_for_a_username_from_one_ip(api, keyring, user):
    statuses = [_login(api, "alice").status_code for _ in range(3)]

    response = _login(api, "alice", PASSWORD)

    assert statuses == [401, 401, 401]
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_someone_elses_guesses_do_not_lock_the_owner_out_with_the_default_limits(api, keyring, user):
    attacker = [_login(api, "alice", ip="203.0.113.9").status_code for _ in range(6)]

    owner = _login(api, "alice", PASSWORD, ip="10.0.0.2")

    assert attacker == [401] * 5 + [429]
    assert owner.status_code == 200


@override_settings(KUNCI_IDP=LIMITS)
def test_the_username_ceiling_ignores_case_and_spreads_across_ips(api, keyring, user):
    for i in range(6):
        assert _login(api, "ALICE", ip=f"10.0.1.{i}").status_code == 401

    assert _login(api, "alice", PASSWORD, ip="10.0.0.4").status_code == 429


@override_settings(KUNCI_IDP=LIMITS)
def test_one_ip_is_throttled_across_usernames(api, keyring, user):
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert _login(api, name).status_code == 401

    assert _login(api, "alice", PASSWORD).status_code == 429
    assert _login(api, "alice", PASSWORD, ip="10.0.0.9").status_code == 200


@override_settings(KUNCI_IDP=LIMITS)
def test_a_successful_login_forgives_the_owners_own_refusals_from_that_ip(api, keyring, user):
    _login(api, "alice")
    _login(api, "alice")
    assert _login(api, "alice", PASSWORD).status_code == 200

    assert [_login(api, "alice", ip="10.0.0.1").status_code for _ in range(3)] == [401, 401, 401]


@override_settings(KUNCI_IDP=LIMITS)
def test_a_successful_login_does_not_reset_the_username_ceiling(api, keyring, user):
    for i in range(5):
        _login(api, "alice", ip=f"10.0.1.{i}")
    assert _login(api, "alice", PASSWORD, ip="10.0.0.9").status_code == 200

    assert _login(api, "alice", ip="10.0.2.1").status_code == 401
    assert _login(api, "alice", ip="10.0.2.2").status_code == 429


@override_settings(KUNCI_IDP=LIMITS)
def test_a_throttled_attempt_does_not_count(api, keyring, user):
    for _ in range(3):
        _login(api, "alice")

    assert [_login(api, "alice").status_code for _ in range(4)] == [429] * 4
    assert _counts("alice", "10.0.0.1") == {"username_ip": 3, "username": 3, "ip": 3}


@override_settings(KUNCI_IDP=LIMITS)
@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("idp.backends.UsernameOrEmailBackend.authenticate", OperationalError("server closed the connection")),
        ("idp.backends.UsernameOrEmailBackend.authenticate", PasswordHashingBusy()),
        ("idp.sessions.start_session", KeyringError("sealed key unreadable")),
        ("idp.sessions.start_session", RuntimeError("anything else")),
    ],
    ids=["database", "hashing-busy", "keyring", "unexpected"],
)
def test_a_login_that_fails_for_any_reason_but_the_credential_is_refunded(api, keyring, user, target, error):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
    with mock.patch(target, side_effect=error):
        failed = [_login(api, name, PASSWORD).status_code for name in ["alice", "bob"] * 4]

    assert all(status >= 500 for status in failed), failed
    assert _counts("alice", "10.0.0.1") == _counts("bob", "10.0.0.1") == {"username_ip": 0, "username": 0, "ip": 0}
    assert _login(api, "alice", PASSWORD).status_code == 200
    assert _login(api, bob.username, PASSWORD).status_code == 200


def test_a_database_outage_does_not_lock_out_the_users_of_an_ip_with_the_default_limits(api, keyring, user):
    with mock.patch("idp.backends.UsernameOrEmailBackend.authenticate", side_effect=OperationalError("cut")):
        failed = [_login(api, "alice", PASSWORD).status_code for _ in range(25)]

    assert 429 not in failed and min(failed) >= 500
    assert _login(api, "alice", PASSWORD).status_code == 200
    assert _login(api, "someone-else").status_code == 401


def test_an_attempt_is_counted_on_entry_and_refunded_on_exit_unless_refused():
    throttle = LoginThrottle(caches["default"], per_username_ip=5, per_username=50, per_ip=20, window=60)
    zero = {"username_ip": 0, "username": 0, "ip": 0}
    one = {"username_ip": 1, "username": 1, "ip": 1}

    throttle.attempt("bob", "10.0.0.1")  # never entered: counts nothing
    assert throttle.counts("bob", "10.0.0.1") == zero
    with pytest.raises(RuntimeError), throttle.attempt("bob", "10.0.0.1"):
        assert throttle.counts("bob", "10.0.0.1") == one
        raise RuntimeError
    assert throttle.counts("bob", "10.0.0.1") == zero
    with throttle.attempt("bob", "10.0.0.1") as attempt:
        attempt.refused()
    assert throttle.counts("bob", "10.0.0.1") == one
    with throttle.attempt("bob", "10.0.0.1") as attempt:
        attempt.succeeded()
    assert throttle.counts("bob", "10.0.0.1") == {"username_ip": 0, "username": 1, "ip": 1}


def _refuse(throttle: LoginThrottle, username: str, ip: str) -> int | None:
    with throttle.attempt(username, ip) as attempt:
        if attempt.wait is None:
            attempt.refused()
        return attempt.wait


def test_the_throttle_window_rolls_over_with_the_clock():
    now = [1000.0]
    throttle = LoginThrottle(
        caches["default"], per_username_ip=1, per_username=10, per_ip=10, window=60, clock=lambda: now[0]
    )

    assert _refuse(throttle, "bob", "10.0.0.1") is None
    assert _refuse(throttle, "bob", "10.0.0.1") == 20  # 1000 s is 40 s into a 60 s window
    now[0] = 1020.0
    assert _refuse(throttle, "bob", "10.0.0.1") is None


def test_the_throttle_refuses_limits_below_one():
    with pytest.raises(ImproperlyConfigured):
        LoginThrottle(caches["default"], per_username_ip=0, per_username=10, per_ip=10, window=60)


@pytest.mark.django_db(transaction=True)
@override_settings(KUNCI_IDP=LIMITS)
def test_parallel_guesses_never_get_more_than_the_limit_past_the_hasher(keyring, user):
    # One IP per guess, so that only the username's counter binds.
    guesses = [lambda ip=f"10.1.0.{i}": _login(APIClient(), "alice", ip=ip).status_code for i in range(20)]

    statuses = run_concurrently(guesses)

    assert statuses.count(401) == LIMITS["LOGIN_FAILURES_PER_USERNAME"]
    assert statuses.count(429) == 20 - LIMITS["LOGIN_FAILURES_PER_USERNAME"]


@pytest.mark.django_db(transaction=True)
@override_settings(KUNCI_IDP=LIMITS)
def test_parallel_guesses_from_one_ip_at_one_account_never_get_past_the_pair_limit(keyring, user):
    guesses = [lambda: _login(APIClient(), "alice").status_code for _ in range(20)]

    statuses = run_concurrently(guesses)

    assert statuses.count(401) == LIMITS["LOGIN_FAILURES_PER_USERNAME_IP"]
    assert statuses.count(429) == 20 - LIMITS["LOGIN_FAILURES_PER_USERNAME_IP"]


def test_failure_counters_are_shared_between_processes_through_redis(settings):
    if not os.environ.get("KUNCI_CACHE_URL"):
        pytest.skip("needs KUNCI_CACHE_URL (.ci/run sets it for its Redis pass)")
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    other_process = (
        "import django; django.setup();"
        "from django.core.cache import caches; from idp.throttling import LoginThrottle;"
        "t = LoginThrottle(caches['default'], per_username_ip=100, per_username=2, per_ip=100, window=300, clock=lambda: 1030.0);"
        "[a.__enter__().refused() for a in (t.attempt('carol', '10.0.0.7'), t.attempt('carol', '10.0.0.8'))]"
    )
    subprocess.run([sys.executable, "-c", other_process], check=True, env={**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test"})

    throttle = LoginThrottle(
        caches["default"], per_username_ip=100, per_username=2, per_ip=100, window=300, clock=lambda: 1030.0
    )

    assert _refuse(throttle, "carol", "10.0.0.9") is not None


# The same counters under another scope: requests that send email (idp/accounts/limits.py).


def _throttle(scope: str, clock=lambda: 1000.0) -> LoginThrottle:
    return LoginThrottle(caches["default"], per_username_ip=2, per_username=2, per_ip=3, window=60, clock=clock, scope=scope)


def test_hit_counts_every_request_and_answers_the_wait_once_over_a_limit():
    throttle = _throttle("account-requests")

    waits = [throttle.hit("Bob@Example.com", "10.0.0.1") for _ in range(3)]

    assert waits == [None, None, 20]  # the window of 60 s started at 960
    assert throttle.counts("bob@example.com", "10.0.0.1") == {"username_ip": 3, "username": 2, "ip": 2}


def test_throttles_of_different_scopes_never_share_a_count():
    for _ in range(3):
        _throttle("account-requests").hit("bob@example.com", "10.0.0.1")

    assert _throttle("login-failures").hit("bob@example.com", "10.0.0.1") is None
    assert _throttle("login-failures").counts("bob@example.com", "10.0.0.1") == {"username_ip": 1, "username": 1, "ip": 1}
