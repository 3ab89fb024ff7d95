import os
import subprocess
import sys

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient
from django.test import override_settings

from idp.throttling import LoginThrottle
from tests.conftest import PASSWORD, run_concurrently

pytestmark = pytest.mark.django_db

LIMITS = {"LOGIN_FAILURES_PER_USERNAME": 3, "LOGIN_FAILURES_PER_IP": 5, "LOGIN_FAILURE_WINDOW": 60}


def _login(api, username: str, password: str = "wrong", ip: str = "10.0.0.1"):
    return api.post("/api/login", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip)


@override_settings(KUNCI_IDP=LIMITS)
def test_login_answers_429_with_retry_after_after_n_failures_for_a_username(api, keyring, user):
    statuses = [_login(api, "alice").status_code for _ in range(3)]

    response = _login(api, "alice", PASSWORD)

    assert statuses == [401, 401, 401]
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert 1 <= int(response["Retry-After"]) <= 60


@override_settings(KUNCI_IDP=LIMITS)
def test_the_username_counter_ignores_case_and_spreads_across_ips(api, keyring, user):
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        _login(api, "ALICE", ip=ip)

    assert _login(api, "alice", PASSWORD, ip="10.0.0.4").status_code == 429


@override_settings(KUNCI_IDP=LIMITS)
def test_one_ip_is_throttled_across_usernames(api, keyring, user):
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert _login(api, name).status_code == 401

    assert _login(api, "alice", PASSWORD).status_code == 429
    assert _login(api, "alice", PASSWORD, ip="10.0.0.9").status_code == 200


@override_settings(KUNCI_IDP=LIMITS)
def test_a_successful_login_resets_the_username_counter(api, keyring, user):
    _login(api, "alice")
    _login(api, "alice")
    assert _login(api, "alice", PASSWORD).status_code == 200

    assert [_login(api, "alice").status_code for _ in range(3)] == [401, 401, 401]


def test_the_throttle_window_rolls_over_with_the_clock():
    now = [1000.0]
    throttle = LoginThrottle(caches["default"], per_username=1, per_ip=10, window=60, clock=lambda: now[0])

    assert throttle.attempt("bob", "10.0.0.1") is None
    assert throttle.attempt("bob", "10.0.0.1") == 20  # 1000 s is 40 s into a 60 s window
    now[0] = 1020.0
    assert throttle.attempt("bob", "10.0.0.1") is None


@pytest.mark.django_db(transaction=True)
@override_settings(KUNCI_IDP=LIMITS)
def test_parallel_guesses_never_get_more_than_the_limit_past_the_hasher(keyring, user):
    # One IP per guess, so that only the username's counter binds.
    guesses = [lambda ip=f"10.1.0.{i}": _login(APIClient(), "alice", ip=ip).status_code for i in range(20)]

    statuses = run_concurrently(guesses)

    assert statuses.count(401) == LIMITS["LOGIN_FAILURES_PER_USERNAME"]
    assert statuses.count(429) == 20 - LIMITS["LOGIN_FAILURES_PER_USERNAME"]


def test_failure_counters_are_shared_between_processes_through_redis(settings):
    if not os.environ.get("KUNCI_CACHE_URL"):
        pytest.skip("needs KUNCI_CACHE_URL (.ci/run sets it for its Redis pass)")
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    other_process = (
        "import django; django.setup();"
        "from django.core.cache import caches; from idp.throttling import LoginThrottle;"
        "t = LoginThrottle(caches['default'], per_username=2, per_ip=100, window=300);"
        "t.attempt('carol', '10.0.0.7'); t.attempt('carol', '10.0.0.8')"
    )
    subprocess.run([sys.executable, "-c", other_process], check=True, env={**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test"})

    throttle = LoginThrottle(caches["default"], per_username=2, per_ip=100, window=300)

    assert throttle.attempt("carol", "10.0.0.9") is not None
