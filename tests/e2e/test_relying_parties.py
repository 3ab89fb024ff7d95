"""Two relying parties verify the issuer's tokens over real HTTP, from nothing but its JWKS URL."""
from __future__ import annotations

import base64
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests

from tests.e2e.conftest import PASSWORD
from tests.e2e.servers import JWKSProxy, start_relying_party


@pytest.fixture(scope="module")
def tokens(issuer) -> dict[str, str]:
    response = requests.post(f"{issuer.url}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def apps(deployment, issuer):
    started = [start_relying_party(deployment, name, issuer.url) for name in ("app1", "app2")]
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def proxied_app(deployment, issuer, request):
    """Start a cold relying party whose JWKS comes through a counting proxy; yield (server, proxy).

    Tests may pass RELYING_PARTY timings (seconds) with `@pytest.mark.parametrize("proxied_app", [{...}], indirect=True)`.
    """
    timings = getattr(request, "param", {})
    proxy = JWKSProxy(f"{issuer.url}/.well-known/jwks.json")
    env = {f"KUNCI_RP_{name}": str(value) for name, value in timings.items()}
    server = start_relying_party(deployment, f"cold{secrets.token_hex(3)}", issuer.url, KUNCI_JWKS_URL=proxy.url, **env)
    yield server, proxy
    server.stop()
    proxy.close()


def _whoami(app, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(f"{app.url}/api/whoami", headers=headers, timeout=30)


def test_both_relying_parties_accept_the_issuers_token_with_the_same_sub(apps, tokens):
    answers = [_whoami(app, tokens["access"]) for app in apps]

    assert [answer.status_code for answer in answers] == [200, 200]
    first, second = (answer.json() for answer in answers)
    assert (first["app"], second["app"]) == ("app1", "app2")
    assert first["sub"] == second["sub"]
    assert first["username"] == "admin"
    assert first["kid"] == jwt.get_unverified_header(tokens["access"])["kid"]
    assert first["sid"] == second["sid"] == jwt.decode(tokens["access"], options={"verify_signature": False})["sid"]


def test_a_relying_party_without_a_token_answers_401_with_a_challenge(apps):
    response = _whoami(apps[0], None)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in response.headers["WWW-Authenticate"]
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000])
def test_a_relying_party_refuses_garbage_with_401(apps, token):
    response = _whoami(apps[1], token)

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json()["code"]


def test_a_relying_party_refuses_a_refresh_token_as_a_bearer(apps, tokens):
    response = _whoami(apps[0], tokens["refresh"])

    assert response.status_code == 401
    assert response.json()["code"] == "token_wrong_type"


def test_a_cold_relying_party_fetches_the_jwks_once_for_fifty_concurrent_clients(proxied_app, tokens):
    server, proxy = proxied_app
    session_per_thread = [requests.Session() for _ in range(50)]

    def four_requests(index: int) -> list[int]:
        session = session_per_thread[index]
        headers = {"Authorization": f"Bearer {tokens['access']}"}
        return [session.get(f"{server.url}/api/whoami", headers=headers, timeout=30).status_code for _ in range(4)]

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = [status for batch in pool.map(four_requests, range(50)) for status in batch]

    assert statuses == [200] * 200
    assert proxy.fetches == 1


def _random_kid_token(tokens: dict[str, str]) -> str:
    header = {"alg": "RS256", "kid": secrets.token_urlsafe(32), "typ": "at+jwt"}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    _, payload, signature = tokens["access"].split(".")
    return f"{encoded}.{payload}.{signature}"


def test_a_flood_of_random_kids_costs_at_most_one_fetch_per_cooldown(proxied_app, tokens):
    server, proxy = proxied_app
    assert _whoami(server, tokens["access"]).status_code == 200  # warm: the first fetch
    started = time.monotonic()

    def flood(_: int) -> int:
        return _whoami(server, _random_kid_token(tokens)).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(flood, range(1000)))
    elapsed = time.monotonic() - started

    assert set(statuses) == {401}
    cooldown = 30  # RELYING_PARTY["REFETCH_COOLDOWN"] default, seconds
    assert proxy.fetches - 1 <= elapsed // cooldown + 1
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("proxied_app", [{"REFETCH_COOLDOWN": 1}], indirect=True)
def test_requests_with_a_cached_kid_do_not_wait_for_a_hanging_fetch(proxied_app, tokens):
    server, proxy = proxied_app
    assert _whoami(server, tokens["access"]).status_code == 200  # the kid is now cached
    time.sleep(1.1)  # past the refetch cooldown, so an unknown kid fetches again
    proxy.delay = 5.0

    with ThreadPoolExecutor(max_workers=9) as pool:
        started = time.monotonic()
        hanging = pool.submit(_whoami, server, _random_kid_token(tokens))  # unknown kid: a slow fetch
        time.sleep(0.2)
        hits = [pool.submit(lambda: (_whoami(server, tokens["access"]).status_code, time.monotonic())) for _ in range(8)]
        results = [hit.result() for hit in hits]
        hanging_done = (hanging.result().status_code, time.monotonic())

    assert [status for status, _ in results] == [200] * 8
    assert max(finished for _, finished in results) - started < 2.5
    assert hanging_done[1] - started >= 5.0
    assert hanging_done[0] == 401


OUTAGE_TIMINGS = {"MIN_CACHE_TTL": 1, "MAX_CACHE_TTL": 1, "MAX_STALE": 4, "MAX_BACKOFF": 1, "REFETCH_COOLDOWN": 1}


@pytest.mark.parametrize("proxied_app", [OUTAGE_TIMINGS], indirect=True)
def test_a_warm_relying_party_rides_out_an_issuer_outage_up_to_the_stale_cap_and_recovers(proxied_app, tokens):
    server, proxy = proxied_app
    assert _whoami(server, tokens["access"]).status_code == 200
    proxy.down = True
    outage_started = time.monotonic()

    during = []
    while time.monotonic() - outage_started < 3:  # past the 1 s TTL, inside the 4 s stale cap
        during.append(_whoami(server, tokens["access"]).status_code)
        time.sleep(0.2)
    time.sleep(3)  # now past TTL + stale cap
    after_cap = _whoami(server, tokens["access"])
    proxy.down = False
    time.sleep(1.5)  # the backoff ends
    recovered = _whoami(server, tokens["access"])

    assert set(during) == {200}
    assert proxy.fetches > 1, "the relying party kept trying the issuer during the outage"
    assert after_cap.status_code == 503
    assert int(after_cap.headers["Retry-After"]) >= 1
    assert after_cap.json()["code"] == "jwks_unavailable"
    assert recovered.status_code == 200
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("proxied_app", [OUTAGE_TIMINGS], indirect=True)
def test_a_cold_relying_party_answers_503_with_retry_after_while_the_issuer_is_down(proxied_app, tokens):
    server, proxy = proxied_app
    proxy.down = True

    response = _whoami(server, tokens["access"])

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["code"] == "jwks_unavailable"
    proxy.down = False
    time.sleep(1.5)
    assert _whoami(server, tokens["access"]).status_code == 200
