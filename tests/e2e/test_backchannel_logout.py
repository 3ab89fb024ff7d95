"""Back-channel logout reaches every worker of a demo app: two gunicorn workers, one logout token.

A stand-in issuer serves the JWKS of a test key on loopback; the test signs the access token and
the logout token with that key. Each worker is pinned by a keep-alive connection, and which worker
holds which connection is read from /proc, so the test knows that both workers, and not only the one
that took the logout, refuse the session's token.
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode, urlsplit

import pytest

from tests.e2e.demo_stack import serving_pid, whoami, worker_pids
from tests.e2e.servers import start_relying_party
from tests.relying_party.issuer import access_claims, jwks, logout_claims, sign, sign_logout, signing_key

CLIENT_ID = "bcl-client"


class StandInIssuer:
    """Serve one JWK Set at /.well-known/jwks.json on a free loopback port; its base URL is the issuer."""

    def __init__(self, document: dict) -> None:
        body = json.dumps(document).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=300")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stand_in_issuer():
    issuer = StandInIssuer(jwks(signing_key("current")))
    yield issuer
    issuer.close()


@pytest.fixture(params=["database", "cache"])
def app(request, deployment, stand_in_issuer):
    env = {
        "KUNCI_RP_CLIENT_ID": CLIENT_ID,
        # Only the client_id is used here (the aud of logout tokens); sign-in is not.
        "KUNCI_RP_CLIENT_SECRET": secrets.token_urlsafe(16),
        "KUNCI_RP_REVOCATION_STORE": request.param,
    }
    if request.param == "cache":
        env.update(KUNCI_CACHE_URL=os.environ.get("KUNCI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
                   KUNCI_CACHE_PREFIX=f"kunci-e2e-{uuid.uuid4().hex[:12]}")
    server = start_relying_party(deployment, f"bcl{secrets.token_hex(3)}", stand_in_issuer.url, workers=2, **env)
    yield server
    server.stop()


def test_a_logout_token_ends_the_session_in_both_workers(app, stand_in_issuer):
    key = signing_key("current")
    port = urlsplit(app.url).port
    master = app.process.pid
    token = sign(key, access_claims(now=time.time(), iss=stand_in_issuer.url, sid="e2e-session"))

    # One keep-alive connection per worker, each having verified the token (now in that worker's cache).
    pinned: dict[int, http.client.HTTPConnection] = {}
    deadline = time.monotonic() + 60
    while len(pinned) < 2 and time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        status, body, _ = whoami(connection, token)
        assert status == 200, body
        pid = serving_pid(connection, master, port)
        if pid is not None and pid not in pinned:
            pinned[pid] = connection
        else:
            connection.close()
    assert len(pinned) == 2, f"only workers {sorted(pinned)} of {sorted(worker_pids(master))} were reached"

    logout = sign_logout(key, logout_claims(now=time.time(), iss=stand_in_issuer.url, aud=CLIENT_ID, sid="e2e-session"))
    poster = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    poster.request(
        "POST", "/backchannel-logout", urlencode({"logout_token": logout}),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    answer = poster.getresponse()
    assert (answer.status, answer.read(), answer.getheader("Cache-Control")) == (200, b"", "no-store")
    logged_out = time.monotonic()

    ended: dict[int, float] = {}
    deadline = logged_out + 15
    while len(ended) < 2 and time.monotonic() < deadline:
        for pid, connection in pinned.items():
            if pid in ended:
                continue
            status, body, headers = whoami(connection, token)
            # Still the same worker: the keep-alive connection was not dropped and reopened elsewhere.
            assert serving_pid(connection, master, port) == pid
            if status == 401:
                assert body["code"] == "session_ended", body
                assert 'error="invalid_token"' in headers["WWW-Authenticate"]
                ended[pid] = time.monotonic() - logged_out
            else:
                assert status == 200, body

    assert sorted(ended) == sorted(pinned), f"workers that refused the session's token: {ended}"
    # A worker that has refused the token never accepts it again.
    for connection in pinned.values():
        assert whoami(connection, token)[0] == 401
    print(f"session ended in each worker after (s): {sorted(round(seconds, 3) for seconds in ended.values())}")
