"""JWKSCache: the six rules of DESIGN.md "Relying party", driven by a fake clock and `responses`."""
from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

import pytest
import requests

from django.test import override_settings

from relying_party.checks import check_relying_party_settings
from relying_party.exceptions import InvalidSetting, JWKSUnavailable, UnknownKey
from relying_party.jwks import JWKSCache
from tests.relying_party.conftest import answer_jwks, jwks_calls, serve_jwks
from tests.relying_party.issuer import ISSUER, JWKS_URL, jwks, signing_key


# Rule 1: a dict in memory, refreshed ahead of the TTL and swapped whole.


def test_a_cache_hit_makes_no_network_call(http, make_cache, key):
    serve_jwks(http, key)
    cache = make_cache()

    for _ in range(100):
        assert cache.get_key(key.kid).public_numbers() == key.public.public_numbers()

    assert jwks_calls(http) == 1
    assert cache.stats().fetches == 1


def test_refresh_ahead_runs_in_the_background_and_swaps_in_the_new_set(http, make_cache, clock, key, next_key):
    serve_jwks(http, key, max_age=300)
    pending: list[Any] = []
    cache = make_cache(refresh_ahead=0.2, run_in_background=pending.append)
    old = cache.get_key(key.kid)
    serve_jwks(http, key, next_key, max_age=300)

    clock.advance(239)
    cache.get_key(key.kid)
    assert pending == []  # 80% of the TTL has not passed yet

    clock.advance(1)
    assert cache.get_key(key.kid) is old  # the request that notices is answered at once, from memory
    assert len(pending) == 1 and jwks_calls(http) == 1
    cache.get_key(key.kid)
    assert len(pending) == 1  # one refresh in flight, not one per request

    pending.pop()()
    assert jwks_calls(http) == 2
    assert cache.get_key(next_key.kid).public_numbers() == next_key.public.public_numbers()
    assert cache.get_key(key.kid) is old  # an unchanged key keeps its identity across the swap
    assert cache.stats().expires_at == clock.now + 300


def test_a_refresh_that_cannot_start_a_thread_runs_inline_instead_of_wedging(http, make_cache, clock, key, next_key):
    def no_threads(work: Any) -> None:
        raise RuntimeError("can't start new thread")

    serve_jwks(http, key, max_age=300)
    cache = make_cache(run_in_background=no_threads)
    cache.get_key(key.kid)
    serve_jwks(http, key, next_key, max_age=300)

    clock.advance(275)  # past the refresh point at 90% of the 300 s TTL
    cache.get_key(key.kid)

    assert cache.stats().kids == tuple(sorted([key.kid, next_key.kid]))
    clock.advance(275)
    cache.get_key(key.kid)
    assert jwks_calls(http) == 3  # and the refreshes after it still happen


def test_a_real_background_thread_refreshes_the_set(http, clock, key, next_key):
    serve_jwks(http, key, max_age=100)
    cache = JWKSCache(JWKS_URL, clock=clock, session=requests.Session(), min_cache_ttl=10)
    cache.get_key(key.kid)
    serve_jwks(http, key, next_key, max_age=100)
    clock.advance(95)

    cache.get_key(key.kid)
    deadline = time.monotonic() + 5
    while next_key.kid not in cache.stats().kids and time.monotonic() < deadline:
        time.sleep(0.001)  # waiting for a real thread, not for time to pass on the fake clock

    assert next_key.kid in cache.stats().kids
    assert jwks_calls(http) == 2


# Rule 2: one shared fetch for unknown kids, a cooldown, and negative answers.


def test_fifty_threads_on_a_cold_cache_share_exactly_one_fetch(http, make_cache, key):
    fetches = []

    def slow_issuer(request: Any) -> tuple[int, dict[str, str], str]:
        fetches.append(request)
        time.sleep(0.05)  # hold the fetch open so that the other threads arrive while it is in flight
        return 200, {"Cache-Control": "max-age=300"}, json.dumps(jwks(key))

    answer_jwks(http, callback=slow_issuer)
    cache = make_cache()
    start = threading.Barrier(50)
    results: list[Any] = []

    def request() -> None:
        start.wait()
        try:
            results.append(cache.get_key(key.kid))
        except Exception as e:  # recorded, then asserted on below
            results.append(e)

    threads = [threading.Thread(target=request) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fetches) == 1
    assert len(results) == 50
    assert all(result is results[0] for result in results)


def test_a_thousand_random_kids_cost_at_most_one_fetch_per_cooldown(http, make_cache, clock, key):
    serve_jwks(http, key)
    cache = make_cache(refetch_cooldown=30)
    cache.get_key(key.kid)
    clock.advance(30)

    for window in range(3):
        for _ in range(1000):
            with pytest.raises(UnknownKey):
                cache.get_key(secrets.token_urlsafe(16))
        assert jwks_calls(http) == 2 + window
        clock.advance(30)


def test_a_kid_found_missing_is_answered_from_the_negative_cache(http, make_cache, clock, key):
    serve_jwks(http, key)
    cache = make_cache(refetch_cooldown=30)
    cache.get_key(key.kid)
    clock.advance(31)

    with pytest.raises(UnknownKey):
        cache.get_key("bogus")
    assert jwks_calls(http) == 2
    clock.advance(31)  # off cooldown: only the negative answer stops a refetch now
    with pytest.raises(UnknownKey):
        cache.get_key("bogus")

    assert jwks_calls(http) == 2


def test_an_unknown_kid_refetches_once_off_cooldown_and_finds_a_new_key(http, make_cache, clock, key, next_key):
    serve_jwks(http, key)
    cache = make_cache(refetch_cooldown=30)
    cache.get_key(key.kid)
    serve_jwks(http, key, next_key)

    with pytest.raises(UnknownKey):
        cache.get_key(next_key.kid)  # within the cooldown of the first fetch
    assert jwks_calls(http) == 1
    clock.advance(30)

    assert cache.get_key(next_key.kid).public_numbers() == next_key.public.public_numbers()
    assert jwks_calls(http) == 2


def test_the_cooldown_counts_from_the_last_attempt_even_a_failed_one(http, make_cache, clock, key):
    serve_jwks(http, key)
    cache = make_cache(refetch_cooldown=30, max_backoff=1)
    cache.get_key(key.kid)
    clock.advance(30)
    answer_jwks(http, status=500)
    with pytest.raises(UnknownKey):
        cache.get_key("new-kid")  # attempt at t=30 fails
    serve_jwks(http, key)

    clock.advance(29)
    with pytest.raises(UnknownKey):
        cache.get_key("newer-kid")
    assert jwks_calls(http) == 2
    clock.advance(1)
    with pytest.raises(UnknownKey):
        cache.get_key("newest-kid")
    assert jwks_calls(http) == 3


# Rule 3: failures never evict; stale serving up to a cap; 503 only cold or past the cap.


def test_a_failed_refresh_keeps_serving_the_last_good_set(http, make_cache, clock, key):
    serve_jwks(http, key, max_age=300)
    cache = make_cache(max_stale=3600)
    old = cache.get_key(key.kid)
    answer_jwks(http, body=requests.ConnectionError("issuer down"))

    clock.advance(300 + 3599)  # expired, and nearly at the stale cap
    assert cache.get_key(key.kid) is old
    assert cache.stats().failures >= 1
    assert cache.stats().kids == (key.kid,)


def test_past_the_stale_cap_the_cache_raises_jwks_unavailable_with_retry_after(http, make_cache, clock, key):
    serve_jwks(http, key, max_age=300)
    cache = make_cache(max_stale=600)
    cache.get_key(key.kid)
    answer_jwks(http, status=503)

    clock.advance(300 + 600)
    with pytest.raises(JWKSUnavailable) as caught:
        cache.get_key(key.kid)

    assert caught.value.code == "jwks_unavailable"
    assert caught.value.retry_after >= 1
    assert cache.stats().kids == (key.kid,)  # still kept: a later good fetch may be a 304


def test_past_the_stale_cap_a_successful_fetch_serves_again(http, make_cache, clock, key):
    serve_jwks(http, key, max_age=300)
    cache = make_cache(max_stale=600)
    cache.get_key(key.kid)

    clock.advance(300 + 600)
    assert cache.get_key(key.kid).public_numbers() == key.public.public_numbers()
    assert jwks_calls(http) == 2


def test_a_cold_start_with_the_issuer_unreachable_raises_jwks_unavailable(http, make_cache, clock, key):
    answer_jwks(http, body=requests.ConnectionError("connection refused"))
    cache = make_cache()

    with pytest.raises(JWKSUnavailable) as first:
        cache.get_key(key.kid)
    with pytest.raises(JWKSUnavailable) as second:
        cache.get_key(key.kid)  # within the backoff: answered without another attempt

    assert first.value.retry_after == 1
    assert second.value.retry_after == 1
    assert jwks_calls(http) == 1
    assert "ConnectionError" in cache.stats().last_error


def test_failed_fetches_back_off_exponentially_up_to_the_ceiling(http, make_cache, clock, key):
    answer_jwks(http, status=500)
    cache = make_cache(max_backoff=4)
    gaps = []
    last_call = 0
    for _ in range(60):
        with pytest.raises(JWKSUnavailable):
            cache.get_key(key.kid)
        if jwks_calls(http) > last_call:
            last_call = jwks_calls(http)
            gaps.append(clock.now)
        clock.advance(0.5)

    intervals = [later - earlier for earlier, later in zip(gaps, gaps[1:])]
    assert intervals[:4] == [1, 2, 4, 4]


def test_a_cold_cache_retries_on_the_short_cap_however_many_fetches_fail(http, make_cache, clock, key):
    answer_jwks(http, body=requests.ConnectionError("connection refused"))
    cache = make_cache(max_backoff=300)  # and the default cold_max_backoff, 5 s

    for attempt in range(1, 21):
        with pytest.raises(JWKSUnavailable) as refused:
            cache.get_key(key.kid)
        assert jwks_calls(http) == attempt  # each request past the cap is a new attempt
        assert 1 <= refused.value.retry_after <= 5  # the 503 never asks for more than the cap
        clock.advance(5)

    assert refused.value.retry_after == 5
    assert cache.stats().failures == 20


def test_a_cold_cache_serves_on_the_first_request_past_the_cap_once_the_issuer_is_back(http, make_cache, clock, key):
    answer_jwks(http, status=503)
    cache = make_cache(max_backoff=300)  # and the default cold_max_backoff, 5 s
    for attempt in range(20):
        clock.advance(5 if attempt else 0)
        with pytest.raises(JWKSUnavailable):
            cache.get_key(key.kid)
    serve_jwks(http, key)  # the issuer is back, inside the backoff of the 20th failure
    with pytest.raises(JWKSUnavailable):
        cache.get_key(key.kid)
    assert jwks_calls(http) == 20

    clock.advance(5)

    assert cache.get_key(key.kid).public_numbers() == key.public.public_numbers()
    assert jwks_calls(http) == 21


def test_once_keys_are_held_failed_refreshes_back_off_past_the_cold_cap(http, make_cache, clock, key):
    serve_jwks(http, key, max_age=60)
    cache = make_cache(min_cache_ttl=60, refresh_ahead=0.5, max_stale=3600, max_backoff=300)
    old = cache.get_key(key.kid)
    answer_jwks(http, status=500)
    clock.advance(30)  # the refresh point

    attempts = []
    for _ in range(200):
        calls = jwks_calls(http)
        assert cache.get_key(key.kid) is old  # served from memory throughout
        if jwks_calls(http) > calls:
            attempts.append(clock.now)
        clock.advance(1)

    intervals = [later - earlier for earlier, later in zip(attempts, attempts[1:])]
    assert intervals[:6] == [1, 2, 4, 8, 16, 32]


def test_past_the_stale_cap_retries_use_the_short_cap_too(http, make_cache, clock, key):
    serve_jwks(http, key, max_age=60)
    cache = make_cache(min_cache_ttl=60, max_stale=100, max_backoff=300)
    cache.get_key(key.kid)
    answer_jwks(http, status=500)
    clock.advance(60 + 100)  # nothing usable is held from here on: every request is a 503

    for _ in range(10):
        with pytest.raises(JWKSUnavailable) as refused:
            cache.get_key(key.kid)
        assert refused.value.retry_after <= 5
        clock.advance(refused.value.retry_after)
    serve_jwks(http, key, max_age=60)
    clock.advance(5)

    assert cache.get_key(key.kid).public_numbers() == key.public.public_numbers()


def test_the_cold_cap_never_exceeds_max_backoff(http, make_cache, clock, key):
    answer_jwks(http, status=500)
    cache = make_cache(max_backoff=2, cold_max_backoff=5)

    retry_afters = []
    for _ in range(4):
        with pytest.raises(JWKSUnavailable) as refused:
            cache.get_key(key.kid)
        retry_afters.append(refused.value.retry_after)
        clock.advance(refused.value.retry_after)

    assert retry_afters == [1, 2, 2, 2]


def test_a_thousand_failures_in_a_row_still_back_off_instead_of_overflowing(http, make_cache, clock, key):
    answer_jwks(http, status=500)
    cache = make_cache(max_backoff=1)

    for _ in range(1100):  # 2.0 ** 1024 overflows a float
        with pytest.raises(JWKSUnavailable):
            cache.get_key(key.kid)
        clock.advance(1)

    assert cache.stats().failures == 1100


def test_cold_max_backoff_is_read_from_settings_and_checked_at_startup():
    config = {"ISSUER": ISSUER, "JWKS_URL": JWKS_URL, "AUDIENCE": "app", "COLD_MAX_BACKOFF": 0}
    with override_settings(RELYING_PARTY=config):
        messages = check_relying_party_settings()

    assert [message.id for message in messages] == ["relying_party.E001"]
    assert "COLD_MAX_BACKOFF" in messages[0].msg


def test_a_success_after_failures_resets_the_backoff(http, make_cache, clock, key):
    answer_jwks(http, status=500)
    cache = make_cache()
    for _ in range(3):
        with pytest.raises(JWKSUnavailable):
            cache.get_key(key.kid)
        clock.advance(10)
    serve_jwks(http, key)

    cache.get_key(key.kid)

    assert cache.stats().last_error == ""
    assert cache.stats().failures == 3


# Rule 5: the hardened fetch, and max-age within floor and ceiling.


@pytest.mark.parametrize(
    ("headers", "ttl"),
    [
        ({"Cache-Control": "public, max-age=300"}, 300),
        ({"Cache-Control": "public, max-age=5"}, 60),
        ({"Cache-Control": "public, max-age=999999"}, 3600),
        ({"Cache-Control": 'Public, Max-Age="120"'}, 120),
        ({"Cache-Control": "public, max-age=300", "Age": "100"}, 200),
        ({"Cache-Control": "no-store"}, 60),
        ({"Cache-Control": "max-age=nonsense"}, 60),
        ({}, 60),
    ],
)
def test_max_age_is_honoured_within_the_floor_and_the_ceiling(http, make_cache, clock, key, headers, ttl):
    answer_jwks(http, json=jwks(key), headers=headers)
    cache = make_cache(min_cache_ttl=60, max_cache_ttl=3600, refresh_ahead=0.5)

    cache.get_key(key.kid)

    assert cache.stats().expires_at == clock.now + ttl
    assert cache.stats().refresh_at == clock.now + ttl / 2


def test_the_fetch_sends_a_timeout_and_never_follows_a_redirect(http, make_cache, key):
    seen: dict[str, Any] = {}
    session = requests.Session()
    original = session.get

    def spy(url: str, **kwargs: Any) -> requests.Response:
        seen.update(kwargs)
        return original(url, **kwargs)

    session.get = spy  # type: ignore[method-assign]
    serve_jwks(http, key)
    make_cache(session=session, fetch_timeout=2.5).get_key(key.kid)

    assert seen["timeout"] == (2.5, 2.5)
    assert seen["allow_redirects"] is False
    assert seen["stream"] is True


def test_a_redirect_is_refused_not_followed(http, make_cache, key):
    answer_jwks(http, status=302, headers={"Location": "https://evil.test/jwks.json"})
    http.get("https://evil.test/jwks.json", json=jwks(key))
    cache = make_cache()

    with pytest.raises(JWKSUnavailable):
        cache.get_key(key.kid)

    assert [call.request.url for call in http.calls] == [JWKS_URL]
    assert "HTTP 302" in cache.stats().last_error


def test_a_body_declared_over_the_cap_is_refused(http, make_cache, key):
    answer_jwks(http, body=b"{" + b" " * 5000 + b"}", headers={"Content-Length": "5002"})
    with pytest.raises(JWKSUnavailable):
        make_cache(max_jwks_bytes=4096).get_key(key.kid)


def test_a_streamed_body_over_the_cap_is_refused_without_a_content_length(http, make_cache, key):
    document = jwks(key, signing_key("next"), signing_key("other"))
    document["padding"] = "x" * 5000
    answer_jwks(http, body=json.dumps(document).encode())
    cache = make_cache(max_jwks_bytes=4096)

    with pytest.raises(JWKSUnavailable):
        cache.get_key(key.kid)

    assert "larger than 4096 bytes" in cache.stats().last_error


@pytest.mark.parametrize(
    "answer",
    [
        {"body": b"not json"},
        {"body": b"\xff\xfe"},
        {"body": b"[" * 100000 + b"]" * 100000},
        {"json": []},
        {"json": {"keys": "x"}},
        {"json": {"keys": []}},
        {"json": {"keys": [{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}]}},
        {"json": {"keys": [{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]}},
        {"json": {"keys": ["just a string"]}},
        {"status": 500},
        {"status": 404},
        {"status": 304},
    ],
    ids=lambda answer: str(answer)[:40],
)
def test_a_bad_document_is_refused_without_evicting_the_good_keys(http, make_cache, clock, key, answer):
    serve_jwks(http, key, max_age=300)
    cache = make_cache(max_jwks_bytes=1024 * 1024)
    old = cache.get_key(key.kid)
    answer_jwks(http, **{"headers": {"Cache-Control": "max-age=300"}, **answer})

    clock.advance(300)
    assert cache.get_key(key.kid) is old

    assert cache.stats().failures == 1
    assert cache.stats().kids == (key.kid,)


def test_a_1024_bit_key_is_skipped_and_the_strong_ones_kept(http, make_cache, clock, key):
    weak = signing_key("weak", bits=1024)
    serve_jwks(http, weak, key)
    cache = make_cache()

    assert cache.get_key(key.kid)
    clock.advance(60)  # off cooldown: the weak kid is looked up again, and still refused
    with pytest.raises(UnknownKey):
        cache.get_key(weak.kid)
    assert cache.stats().kids == (key.kid,)


def test_a_set_of_only_weak_keys_is_refused(http, make_cache):
    weak = signing_key("weak", bits=1024)
    serve_jwks(http, weak)
    cache = make_cache()

    with pytest.raises(JWKSUnavailable):
        cache.get_key(weak.kid)
    assert "no usable signing key" in cache.stats().last_error


@pytest.mark.parametrize(
    "overrides",
    [
        {"use": "enc"},
        {"alg": "HS256"},
        {"alg": "RS512"},
        {"key_ops": ["sign"]},
        {"kid": None},
        {"kid": 7},
        {"kty": "EC"},
        {"n": "not base64url!"},
        {"e": None},
        {"e": "AA"},
    ],
    ids=str,
)
def test_a_key_not_for_verifying_rs256_is_skipped(http, make_cache, key, overrides):
    odd = signing_key("odd")
    serve_jwks(http, key, odd.jwk(**overrides))
    cache = make_cache()

    assert cache.get_key(key.kid)
    assert cache.stats().kids == (key.kid,)


def test_a_key_without_alg_is_accepted(http, make_cache, key):
    serve_jwks(http, key.jwk(alg=None))
    assert make_cache().get_key(key.kid).public_numbers() == key.public.public_numbers()


def test_a_key_without_use_is_skipped(http, make_cache, key, next_key):
    serve_jwks(http, key.jwk(use=None), next_key)
    cache = make_cache()

    with pytest.raises(UnknownKey):
        cache.get_key(key.kid)
    assert cache.stats().kids == (next_key.kid,)


def test_a_kid_naming_two_different_keys_is_skipped(http, make_cache, key):
    impostor = signing_key("impostor")
    serve_jwks(http, key, signing_key("next").jwk(kid="shared"), impostor.jwk(kid="shared"))
    cache = make_cache()

    cache.get_key(key.kid)
    assert cache.stats().kids == (key.kid,)


def test_the_etag_is_sent_back_and_a_304_extends_the_set(http, make_cache, clock, key):
    answer_jwks(http, json=jwks(key), headers={"Cache-Control": "max-age=300", "ETag": '"v1"'})
    cache = make_cache()
    old = cache.get_key(key.kid)
    answer_jwks(http, status=304, headers={"Cache-Control": "max-age=300", "ETag": '"v1"'})

    clock.advance(290)
    assert cache.get_key(key.kid) is old

    assert http.calls[-1].request.headers["If-None-Match"] == '"v1"'
    assert cache.stats().not_modified == 1
    assert cache.stats().expires_at == clock.now + 300


def test_a_304_on_a_cold_cache_is_a_failure(http, make_cache, key):
    answer_jwks(http, status=304)
    with pytest.raises(JWKSUnavailable):
        make_cache().get_key(key.kid)


def test_refresh_fetches_now_even_within_the_cooldown(http, make_cache, key, next_key):
    serve_jwks(http, key)
    cache = make_cache()
    cache.get_key(key.kid)
    serve_jwks(http, key, next_key)

    assert cache.refresh() is True
    assert cache.stats().kids == tuple(sorted([key.kid, next_key.kid]))


def test_an_unexpected_error_in_a_fetch_counts_as_a_failure(http, make_cache, key, caplog):
    answer_jwks(http, body=RuntimeError("bug"))
    cache = make_cache()

    with pytest.raises(JWKSUnavailable):
        cache.get_key(key.kid)
    assert cache.stats().failures == 1
    assert "unexpected error fetching the JWKS" in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://issuer.test/jwks"}, "JWKS_URL"),
        ({"url": None}, "JWKS_URL"),
        ({"algorithms": ["HS256"]}, "ALGORITHMS"),
        ({"algorithms": ["none"]}, "ALGORITHMS"),
        ({"algorithms": "RS256"}, "ALGORITHMS"),
        ({"algorithms": []}, "ALGORITHMS"),
        ({"min_cache_ttl": -1}, "MIN_CACHE_TTL"),
        ({"min_cache_ttl": 100, "max_cache_ttl": 50}, "MAX_CACHE_TTL"),
        ({"refresh_ahead": 1}, "REFRESH_AHEAD"),
        ({"refetch_cooldown": "30"}, "REFETCH_COOLDOWN"),
        ({"max_stale": -5}, "MAX_STALE"),
        ({"fetch_timeout": 0}, "FETCH_TIMEOUT"),
        ({"max_jwks_bytes": 10}, "MAX_JWKS_BYTES"),
        ({"min_rsa_bits": 1024}, "MIN_RSA_BITS"),
        ({"max_backoff": True}, "MAX_BACKOFF"),
        ({"cold_max_backoff": 0.5}, "COLD_MAX_BACKOFF"),
        ({"cold_max_backoff": "5"}, "COLD_MAX_BACKOFF"),
    ],
)
def test_the_constructor_refuses_unusable_options_by_name(options, message):
    url = options.pop("url", JWKS_URL)
    with pytest.raises(InvalidSetting, match=message):
        JWKSCache(url, **options)


def test_constructing_a_cache_makes_no_network_call(http):
    JWKSCache(f"{ISSUER}/jwks.json")
    assert len(http.calls) == 0

