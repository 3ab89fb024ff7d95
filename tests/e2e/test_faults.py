"""The issuer through database and cache outages: a TCP proxy the tests own cuts or stalls the link.

Every request made while a dependency is down must answer within the configured timeouts: the
`timeout=` of each request below is that bound, and a hang fails the test with ReadTimeout.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.e2e.conftest import PASSWORD
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.servers import Deployment, Server, start_issuer

# Test-sized timeouts: psycopg's connect timeout is 2 s at least; the client gives up on a
# statement one second after the server's 1 s statement_timeout.
DB_TIMEOUTS = {"KUNCI_DB_CONNECT_TIMEOUT": "2", "KUNCI_DB_STATEMENT_TIMEOUT": "1", "KUNCI_JWKS_CACHE_SECONDS": "1"}
# A request that touches a stalled database waits at most for the health check of its pooled
# connection (2 s) and one connect (2 s); this bound leaves room for a loaded machine.
DB_BOUND = 10
# Redis: 0.5 s to connect, 1 s per answer (the defaults); redis-py alone would wait forever.
CACHE_BOUND = 4

needs_postgresql = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="the database fault tests cut the issuer's link to PostgreSQL; set DATABASE_URL to PostgreSQL",
)


def _through(proxy: FaultProxy, url: str, **query: str) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
    extra = "&".join(f"{key}={value}" for key, value in query.items())
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(filter(None, [parts.query, extra]))))


def _create_users(deployment: Deployment, *names: str) -> None:
    deployment.manage(
        "shell", "-c",
        "from django.contrib.auth import get_user_model\n"
        f"for name in {list(names)!r}:\n"
        f"    get_user_model().objects.create_user(name, name + '@example.com', {PASSWORD!r})\n",
    )


def _login(issuer: Server, username: str, timeout: float = DB_BOUND) -> requests.Response:
    return requests.post(f"{issuer.url}/api/login", json={"username": username, "password": PASSWORD}, timeout=timeout)


def _me(issuer: Server, access: str) -> requests.Response:
    return requests.get(f"{issuer.url}/api/me", headers={"Authorization": f"Bearer {access}"}, timeout=DB_BOUND)


def _assert_unavailable(response: requests.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert int(response.headers["Retry-After"]) >= 1


def _after_heal(call: Callable[[], requests.Response], within: float = 10) -> requests.Response:
    """Return `call`'s first answer that is not a 503: the first request on a healed link may fail."""
    deadline = time.monotonic() + within
    response = call()
    while response.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = call()
    return response


@pytest.fixture
def database_link(tmp_path) -> Iterator[tuple[Deployment, FaultProxy, Server]]:
    """Start an issuer whose PostgreSQL link runs through a FaultProxy."""
    deployment = Deployment.create(tmp_path)
    direct = urlsplit(deployment.env["DATABASE_URL"])
    proxy = FaultProxy(direct.hostname or "127.0.0.1", direct.port or 5432)
    issuer = None
    try:
        # Plain TCP, so the proxy can read the protocol; the test owns both ends of the loopback.
        proxied = _through(proxy, deployment.env["DATABASE_URL"], sslmode="disable", gssencmode="disable")
        issuer = start_issuer(deployment, DATABASE_URL=proxied, **DB_TIMEOUTS)
        yield deployment, proxy, issuer
    finally:
        if issuer is not None:
            issuer.stop()
        proxy.close()
        deployment.destroy()


def _public_documents_answer_from_memory(issuer: Server, jwks_before: dict) -> None:
    for _ in range(5):
        jwks = requests.get(f"{issuer.url}/.well-known/jwks.json", timeout=DB_BOUND)
        assert jwks.status_code == 200, jwks.text
        assert jwks.json() == jwks_before
        discovery = requests.get(f"{issuer.url}/.well-known/openid-configuration", timeout=DB_BOUND)
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == issuer.url


# --- case 4: no hang, 503, and the public keys stay up -------------------------------------------


@needs_postgresql
@pytest.mark.parametrize("fault", ["stall", "cut"])
def test_a_database_outage_answers_503_quickly_while_jwks_and_discovery_stay_up(database_link, fault):
    deployment, proxy, issuer = database_link
    _create_users(deployment, "alice")
    pair = _login(issuer, "alice").json()
    jwks_before = requests.get(f"{issuer.url}/.well-known/jwks.json", timeout=DB_BOUND).json()

    getattr(proxy, fault)()
    try:
        _public_documents_answer_from_memory(issuer, jwks_before)
        _assert_unavailable(_login(issuer, "alice"), "database_unavailable")
        _assert_unavailable(_me(issuer, pair["access"]), "database_unavailable")
        ready = requests.get(f"{issuer.url}/readyz", timeout=DB_BOUND)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "unavailable"
        assert requests.get(f"{issuer.url}/healthz", timeout=DB_BOUND).status_code == 200
    finally:
        proxy.heal()

    healed = _after_heal(lambda: _login(issuer, "alice"))
    assert healed.status_code == 200, healed.text
    assert _me(issuer, pair["access"]).json()["username"] == "alice"
    assert requests.get(f"{issuer.url}/readyz", timeout=DB_BOUND).json()["status"] == "ready"


# --- case 2: an outage must not lock users out after it ends --------------------------------------


@needs_postgresql
def test_logins_refused_by_a_database_outage_do_not_count_against_the_throttle(database_link):
    deployment, proxy, issuer = database_link
    users = [f"user{index}" for index in range(5)]
    _create_users(deployment, *users)

    proxy.cut()
    try:
        # 20 attempts from one IP, 5 per user: each limit would be reached if they counted.
        failed = [_login(issuer, users[attempt % 4]).status_code for attempt in range(20)]
    finally:
        proxy.heal()
    assert set(failed) <= {500, 503}  # the answer itself is case 4's business

    answers = {user: _after_heal(lambda: _login(issuer, user)) for user in users}
    assert {user: answer.status_code for user, answer in answers.items()} == dict.fromkeys(users, 200), [
        answer.text for answer in answers.values()
    ]


# --- case 3: a refresh whose COMMIT the client never saw ------------------------------------------


@needs_postgresql
def test_a_refresh_retried_after_a_lost_commit_gets_a_working_pair_and_keeps_the_session(database_link):
    deployment, proxy, issuer = database_link
    _create_users(deployment, "alice")
    pair = _login(issuer, "alice").json()

    proxy.drop_answer_to_commit()
    lost = requests.post(f"{issuer.url}/api/login/refresh", json={"refresh": pair["refresh"]}, timeout=DB_BOUND)
    assert lost.status_code in (500, 503), lost.text  # the rotation committed; the client cannot know
    retried = requests.post(f"{issuer.url}/api/login/refresh", json={"refresh": pair["refresh"]}, timeout=DB_BOUND)

    assert retried.status_code == 200, retried.text
    fresh = retried.json()
    assert _me(issuer, fresh["access"]).status_code == 200
    again = requests.post(f"{issuer.url}/api/login/refresh", json={"refresh": fresh["refresh"]}, timeout=DB_BOUND)
    assert again.status_code == 200, again.text
    assert _me(issuer, again.json()["access"]).status_code == 200


# --- case 4, the cache: a stalled or cut Redis answers 503 at once ---------------------------------


def _redis_url() -> str:
    url = os.environ.get("KUNCI_CACHE_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("needs KUNCI_CACHE_URL pointing at Redis (.ci/run sets it for its Redis pass)")
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1).close()
    except OSError:
        pytest.skip(f"no Redis answers at {parts.hostname}:{parts.port or 6379}")
    return url


@pytest.mark.parametrize("fault", ["stall", "cut"])
def test_a_cache_outage_answers_login_with_503_cache_unavailable_quickly(tmp_path, fault):
    url = _redis_url()
    parts = urlsplit(url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    deployment = Deployment.create(tmp_path)
    issuer = None
    try:
        issuer = start_issuer(
            deployment,
            KUNCI_CACHE_URL=_through(proxy, url),
            KUNCI_CACHE_PREFIX=f"kunci-faults-{uuid.uuid4().hex[:8]}",
        )
        _create_users(deployment, "alice")
        assert _login(issuer, "alice", timeout=CACHE_BOUND).status_code == 200

        getattr(proxy, fault)()
        try:
            for _ in range(3):
                _assert_unavailable(_login(issuer, "alice", timeout=CACHE_BOUND), "cache_unavailable")
            # The public documents need no cache.
            assert requests.get(f"{issuer.url}/.well-known/jwks.json", timeout=CACHE_BOUND).status_code == 200
        finally:
            proxy.heal()

        healed = _after_heal(lambda: _login(issuer, "alice", timeout=CACHE_BOUND))
        assert healed.status_code == 200, healed.text
    finally:
        if issuer is not None:
            issuer.stop()
        proxy.close()
        deployment.destroy()
