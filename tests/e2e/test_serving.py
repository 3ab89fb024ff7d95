"""The serving layer over real sockets: slow clients, the server's own errors, chunked bodies, proxies."""
from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import PASSWORD
from tests.e2e.servers import start_relying_party, start_server
from tests.e2e.slowclients import SlowClients

# More than every thread of the server under test (1 worker x 8 threads): a server that gives a
# thread to each connection before its request is whole answers nobody while they trickle.
SLOW = 24


def _address(server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    return parts.hostname, parts.port


def _raw(server, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send raw bytes and return (status line, headers, body) of the answer."""
    with socket.create_connection(_address(server), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # the server closes after an error; the answer came first
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return status, headers, body


def _login(issuer) -> dict:
    answer = requests.post(f"{issuer.url}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_slow_clients_cost_the_issuer_no_thread(issuer):
    host, port = _address(issuer)
    with SlowClients(host, port, headers=SLOW, bodies=SLOW) as slow:
        assert slow.open == 2 * SLOW
        for _ in range(5):
            jwks = requests.get(f"{issuer.url}/.well-known/jwks.json", timeout=5)
            assert jwks.status_code == 200
        tokens = _login(issuer)
        me = requests.get(f"{issuer.url}/api/me", headers={"Authorization": f"Bearer {tokens['access']}"}, timeout=5)
        assert me.status_code == 200
        assert slow.open == 2 * SLOW  # they were held open all along, not dropped to make room


def test_slow_clients_cost_a_relying_party_no_thread(deployment, issuer):
    app = start_relying_party(deployment, "slow-app", issuer.url)
    try:
        tokens = _login(issuer)
        host, port = _address(app)
        with SlowClients(host, port, headers=SLOW, bodies=SLOW, path="/api/whoami"):
            whoami = requests.get(
                f"{app.url}/api/whoami", headers={"Authorization": f"Bearer {tokens['access']}"}, timeout=5
            )
            assert whoami.status_code == 200
            assert whoami.json()["username"] == "admin"
    finally:
        app.stop()


def test_a_chunked_body_is_read(issuer):
    body = json.dumps({"username": "admin", "password": PASSWORD}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    status, headers, answer = _raw(
        issuer,
        b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks,
    )
    assert status.split()[1] == "200", answer
    assert set(json.loads(answer)) == {"access", "refresh"}


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", "400", "bad_request"),
        (b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "431", "headers_too_large"),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", "431", "headers_too_large"),
        (b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 70000\r\n\r\n", "413", "request_too_large"),
        (b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12, 13\r\n\r\n", "400", "bad_request"),
    ],
    ids=["garbage", "long-request-line", "huge-header", "huge-body", "bad-content-length"],
)
def test_the_servers_own_errors_are_json(issuer, request_bytes, status, code):
    got_status, headers, body = _raw(issuer, request_bytes)
    assert got_status.split()[1] == status
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["code"] == code


@pytest.fixture(scope="module")
def https_issuer(deployment, issuer):
    """The same deployment served as production is: HTTPS required, no proxy trusted."""
    server = start_server(deployment, "https-issuer", "settings.idp", "/.well-known/openid-configuration", KUNCI_HTTPS="1")
    yield server
    server.stop()


def test_a_forwarded_scheme_from_an_untrusted_address_is_ignored(https_issuer):
    answer = requests.get(
        f"{https_issuer.url}/.well-known/openid-configuration",
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=5,
    )
    # Still plain HTTP as far as the issuer knows: redirected to https, not served.
    assert answer.status_code == 301
    assert answer.headers["Location"].startswith("https://")


def test_a_forwarded_scheme_from_the_trusted_proxy_is_honoured(deployment, issuer):
    server = start_server(
        deployment, "proxied-issuer", "settings.idp", "/.well-known/jwks.json",
        KUNCI_HTTPS="1", KUNCI_TRUSTED_PROXY="127.0.0.1",
    )
    try:
        plain = requests.get(f"{server.url}/.well-known/jwks.json", allow_redirects=False, timeout=5)
        assert plain.status_code == 301
        proxied = requests.get(
            f"{server.url}/.well-known/jwks.json", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False, timeout=5
        )
        assert proxied.status_code == 200
        assert "max-age" in proxied.headers["Strict-Transport-Security"]
    finally:
        server.stop()
