"""Back-channel logout end to end: a real issuer, real `manage.py run_outbox` processes, and a test receiver.

The receiver (tests/e2e/servers.py `LogoutReceiver`) is registered as a client with `manage.py
clients add --backchannel-logout-uri`, on loopback, which the worker may reach because the
deployment allows 127.0.0.1/32 (KUNCI_BACKCHANNEL_ALLOWED_NETWORKS; without it the SSRF guard
refuses, as the last of the process tests shows).

- The Back-Channel OP plan's RP-initiated logout, over HTTP: the token the receiver gets verifies
  against the live JWKS, with typ, iss, aud, events, sid and sub checked against the id_token.
- Nothing is lost: a worker killed with SIGKILL while its POST is in flight leaves the row to the
  next worker once the lease runs out; an issuer killed right after /api/logout answered left
  the row committed; a receiver that refused connections or answered 503 gets the delivery
  within the retry cap (plus slack) of coming back.
- The transport against misbehaving receivers (in process, `idp.outbound.post_form`): one that
  trickles its answer is cut off at the total deadline, an endless answer is read only up to the
  cap, redirects are not followed, a name is resolved once and connected to by the address
  checked, and TLS is verified for the name.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from jwt import PyJWKSet

from idp import outbound
from tests.e2e.conftest import PASSWORD
from tests.e2e.servers import (
    Delivery,
    Deployment,
    LogoutReceiver,
    Server,
    kill_hard,
    start_issuer,
    start_outbox_worker,
    start_server,
)

LOOPBACK_ALLOWED = {"KUNCI_BACKCHANNEL_ALLOWED_NETWORKS": "127.0.0.1/32"}
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# Time allowed past an exact bound for process scheduling on a loaded 2-core machine.
SLACK = 5.0


class Stack:
    """One issuer deployment, its test receiver registered as a client, and the workers a test starts."""

    def __init__(self, deployment: Deployment, receiver: LogoutReceiver) -> None:
        self.deployment = deployment
        self.receiver = receiver
        self.issuer = start_issuer(deployment, KUNCI_SIGNING_KEY_CACHE_SECONDS="0")
        deployment.manage(
            "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        )
        registered = deployment.manage(
            "clients", "add", "Receiver",
            "--redirect-uri", f"{receiver.url}/callback",
            "--post-logout-redirect-uri", f"{receiver.url}/post_logout_redirect",
            "--backchannel-logout-uri", f"{receiver.url}/backchannel_logout",
            "--trusted", "--accepts-shared-audience", "--json",
        )
        credentials = json.loads(registered.stdout)
        self.client_id, self.client_secret = credentials["client_id"], credentials["client_secret"]
        self.workers: list[Server] = []

    def start_worker(self, **env: str) -> Server:
        worker = start_outbox_worker(self.deployment, f"worker{len(self.workers)}", **{**LOOPBACK_ALLOWED, **env})
        self.workers.append(worker)
        return worker

    def restart_issuer(self) -> None:
        port = urlsplit(self.issuer.url).port
        self.issuer = start_server(self.deployment, "issuer", "settings.idp", "/.well-known/jwks.json", port=port)

    def api_logout(self) -> str:
        """Sign in at /api/login and out at /api/logout; return the session's sid."""
        pair = requests.post(f"{self.issuer.url}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=30)
        assert pair.status_code == 200, pair.text
        tokens = pair.json()
        out = requests.post(f"{self.issuer.url}/api/logout", json={"refresh": tokens["refresh"]},
                            headers={"Authorization": f"Bearer {tokens['access']}"}, timeout=30)
        assert out.status_code == 200, out.text
        return jwt.decode(tokens["refresh"], options={"verify_signature": False})["sid"]

    def outbox(self) -> dict:
        return json.loads(self.deployment.manage("outbox", "--json").stdout)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    deployment = Deployment.create(tmp_path_factory.mktemp("backchannel"))
    receiver = LogoutReceiver()
    stack = Stack(deployment, receiver)
    yield stack
    stack.stop()
    stack.issuer.stop()
    receiver.stop()
    deployment.destroy()


@pytest.fixture
def fresh(stack: Stack) -> Iterator[Stack]:
    """The stack with a receiver that answers 200 at once, and no worker running; workers stop after the test."""
    stack.receiver.release()
    stack.receiver.status = 200
    if stack.receiver.server is None:
        stack.receiver.start()
    yield stack
    stack.stop()
    stack.receiver.release()


def _sid(delivery: Delivery) -> str:
    return jwt.decode(delivery.form["logout_token"][0], options={"verify_signature": False})["sid"]


def _for(sid: str, *, status: int | None = 200) -> Callable[[list[Delivery]], bool]:
    """The receiver has answered a delivery for `sid` (with `status`, unless None)."""
    return lambda deliveries: any(
        d.answered and _sid(d) == sid and (status is None or d.status == status) for d in deliveries
    )


# The Back-Channel OP plan, over HTTP.


def _sign_in(issuer: Server) -> requests.Session:
    browser = requests.Session()
    browser.headers["Accept"] = BROWSER
    form = browser.get(f"{issuer.url}/signin", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed_in = browser.post(
        f"{issuer.url}/signin", data={"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{issuer.url}/signin"}, timeout=30,
    )
    assert signed_in.status_code == 200, signed_in.text[:300]
    return browser


def _authorize(stack: Stack, browser: requests.Session, verifier: str, **extra: str) -> dict[str, list[str]]:
    """Send the browser to /authorize; return the query of the redirect back to the client."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    authorized = browser.get(f"{stack.issuer.url}/authorize", params={
        "response_type": "code", "client_id": stack.client_id, "redirect_uri": f"{stack.receiver.url}/callback",
        "scope": "openid", "state": "s-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256",
        **extra,
    }, allow_redirects=False, timeout=10)
    assert authorized.status_code == 302, authorized.text[:300]
    return parse_qs(urlsplit(authorized.headers["Location"]).query)


def _code_flow(stack: Stack, browser: requests.Session) -> dict:
    verifier = secrets.token_urlsafe(48)
    code = _authorize(stack, browser, verifier)["code"][0]
    tokens = requests.post(f"{stack.issuer.url}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": f"{stack.receiver.url}/callback",
        "code_verifier": verifier,
    }, auth=(stack.client_id, stack.client_secret), timeout=10)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def test_oidcc_backchannel_rp_initiated_logout_reaches_the_receiver_through_run_outbox(fresh: Stack):
    fresh.start_worker()
    browser = _sign_in(fresh.issuer)
    id_token = _code_flow(fresh, browser)["id_token"]
    id_claims = jwt.decode(id_token, options={"verify_signature": False})

    front = browser.get(f"{fresh.issuer.url}/logout", params={
        "id_token_hint": id_token, "post_logout_redirect_uri": f"{fresh.receiver.url}/post_logout_redirect",
        "state": "bcl",
    }, allow_redirects=False, timeout=10)

    assert front.status_code == 302 and front.headers["Location"] == f"{fresh.receiver.url}/post_logout_redirect?state=bcl"
    deliveries = fresh.receiver.wait_until(_for(id_claims["sid"]))
    [delivery] = [d for d in deliveries if _sid(d) == id_claims["sid"]]
    # §2.5: POSTed form-encoded to the registered path, the one parameter logout_token.
    assert delivery.path == "/backchannel_logout"
    assert delivery.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert set(delivery.form) == {"logout_token"}
    logout_token = delivery.form["logout_token"][0]
    # §2.6: verified as a receiver does, against the JWKS the issuer serves now.
    header = jwt.get_unverified_header(logout_token)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
    jwks = PyJWKSet.from_dict(requests.get(f"{fresh.issuer.url}/.well-known/jwks.json", timeout=10).json())
    claims = jwt.decode(logout_token, jwks[header["kid"]].key, algorithms=["RS256"], audience=fresh.client_id,
                        issuer=fresh.issuer.url, options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]})
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert (claims["sub"], claims["sid"]) == (id_claims["sub"], id_claims["sid"])
    assert "nonce" not in claims and 0 < claims["exp"] - claims["iat"] <= 120
    assert abs(claims["iat"] - datetime.datetime.now(datetime.timezone.utc).timestamp()) < 60
    # And the browser is signed out: prompt=none answers login_required.
    assert _authorize(fresh, browser, secrets.token_urlsafe(48), prompt="none")["error"] == ["login_required"]


# Nothing is lost.


def test_a_worker_killed_with_its_post_in_flight_leaves_the_row_to_the_next_worker(fresh: Stack):
    fresh.receiver.hold()
    first = fresh.start_worker(KUNCI_OUTBOX_LEASE="2")
    sid = fresh.api_logout()
    # The row is claimed and its POST is at the receiver, unanswered: the worker dies now.
    fresh.receiver.wait_until(lambda deliveries: any(_sid(d) == sid for d in deliveries))
    kill_hard(first)
    fresh.receiver.release()

    fresh.start_worker(KUNCI_OUTBOX_LEASE="2")

    # The dead worker's POST is answered into a closed connection; the new worker's is a second one.
    fresh.receiver.wait_until(lambda deliveries: sum(d.answered and _sid(d) == sid for d in deliveries) >= 2)
    _wait_for_outbox(fresh, lambda outbox: outbox["counts"]["pending"] + outbox["counts"]["failing"] == 0)


def _wait_for_outbox(stack: Stack, done: Callable[[dict], bool], timeout: float = 60) -> dict:
    """Poll `manage.py outbox --json` until `done` holds; return what it said."""
    deadline = time.monotonic() + timeout
    while not done(outbox := stack.outbox()):
        assert time.monotonic() < deadline, outbox
        time.sleep(0.2)
    return outbox


def test_an_issuer_killed_right_after_logout_answered_loses_no_delivery(fresh: Stack):
    sid = fresh.api_logout()

    kill_hard(fresh.issuer)
    fresh.restart_issuer()
    fresh.start_worker()

    fresh.receiver.wait_until(_for(sid))


@pytest.mark.parametrize("outage", ["connection refused", "503"])
def test_a_receiver_that_comes_back_gets_the_delivery_within_the_retry_cap(fresh: Stack, outage: str):
    cap = 2.0
    if outage == "503":
        fresh.receiver.status = 503
    else:
        fresh.receiver.stop()
    fresh.start_worker(KUNCI_OUTBOX_RETRY_CAP=str(cap))
    sid = fresh.api_logout()
    # Two failed attempts, as the worker recorded them.
    _wait_for_outbox(fresh, lambda outbox: any(row["attempts"] >= 2 for row in outbox["failing"]))

    back = time.monotonic()
    fresh.receiver.status = 200
    if outage != "503":
        fresh.receiver.start()

    fresh.receiver.wait_until(_for(sid), timeout=cap + SLACK)
    assert time.monotonic() - back <= cap + SLACK


def test_without_an_allowance_the_worker_refuses_a_loopback_receiver(fresh: Stack):
    fresh.start_worker(KUNCI_BACKCHANNEL_ALLOWED_NETWORKS="")
    sid = fresh.api_logout()

    outbox = _wait_for_outbox(fresh, lambda outbox: any(row["refusals"] for row in outbox["failing"] + outbox["dead"]))

    [refused] = [row for row in outbox["failing"] + outbox["dead"] if row["refusals"]]
    assert "127.0.0.1 resolves to 127.0.0.1, a loopback address" in refused["last_error"]
    assert not any(_sid(d) == sid for d in fresh.receiver.deliveries)
    fresh.deployment.manage("shell", "-c", "from idp.outbox.models import OutboxMessage; OutboxMessage.objects.all().delete()")


# The transport against misbehaving receivers.


class RawServer:
    """A loopback TCP server that hands each connection to `serve(connection)`, counting connections."""

    def __init__(self, serve: Callable[[socket.socket], None], *, context: ssl.SSLContext | None = None) -> None:
        self.serve = serve
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.context = context
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: socket.socket) -> None:
        try:
            if self.context is not None:
                connection = self.context.wrap_socket(connection, server_side=True)
            connection.recv(65536)
            self.serve(connection)
        except OSError:
            pass
        finally:
            connection.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def raw_servers() -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    yield servers
    for server in servers:
        server.close()


LOOPBACK = outbound.AddressPolicy(allowed_networks=(outbound.ipaddress.ip_network("127.0.0.1/32"),))


def _post(url: str, *, total: float = 5.0, connect: float = 3.0, resolver=outbound.resolve) -> outbound.Answer:
    return outbound.post_form(url, {"logout_token": "t"}, policy=LOOPBACK, connect_timeout=connect,
                              total_timeout=total, max_response_bytes=16 * 1024, resolver=resolver)


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_total_deadline(raw_servers):
    def trickle(connection: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
            connection.sendall(bytes([byte]))
            time.sleep(0.1)  # the receiver's pace, well inside any per-read timeout

    raw_servers.append(server := RawServer(trickle))
    started = time.monotonic()

    with pytest.raises(outbound.TimedOut, match=f"127.0.0.1:{server.port} did not answer within 1.5 s"):
        _post(f"http://127.0.0.1:{server.port}/bcl", total=1.5)

    assert time.monotonic() - started < 1.5 + SLACK


def test_an_endless_answer_is_read_only_up_to_the_cap(raw_servers):
    def endless(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        while True:
            connection.sendall(chunk)

    raw_servers.append(server := RawServer(endless))
    started = time.monotonic()

    answer = _post(f"http://127.0.0.1:{server.port}/bcl", total=30)

    assert answer.status == 200
    assert time.monotonic() - started < SLACK


def test_a_redirect_is_answered_not_followed(raw_servers):
    raw_servers.append(elsewhere := RawServer(lambda connection: None))

    def redirect(connection: socket.socket) -> None:
        connection.sendall(
            f"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{elsewhere.port}/\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )

    raw_servers.append(server := RawServer(redirect))

    assert _post(f"http://127.0.0.1:{server.port}/bcl").status == 307
    assert elsewhere.connections == 0


class CountingResolver:
    """Answers each name with the next of its addresses, and counts the questions."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked = 0

    def __call__(self, host: str, port: int) -> list[tuple]:
        address = self.addresses[min(self.asked, len(self.addresses) - 1)]
        self.asked += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


def test_a_name_is_resolved_once_and_connected_to_by_the_address_checked(fresh: Stack):
    # A rebinding DNS: its first answer is allowed, any later one is not. One question is asked.
    resolver = CountingResolver("127.0.0.1", "127.0.0.2")
    port = fresh.receiver.port

    answer = _post(f"http://receiver.test:{port}/backchannel_logout", resolver=resolver)

    assert answer.status == 200 and resolver.asked == 1
    assert fresh.receiver.deliveries[-1].headers["Host"] == f"receiver.test:{port}"
    with pytest.raises(outbound.TargetForbidden, match="receiver.test resolves to 127.0.0.2, a loopback address"):
        _post(f"http://receiver.test:{port}/backchannel_logout", resolver=resolver)


def test_tls_is_verified_for_the_name_not_the_address(raw_servers, tmp_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed("receiver.test", tmp_path))
    raw_servers.append(server := RawServer(lambda connection: None, context=context))

    with pytest.raises(outbound.Unreachable, match="TLS certificate not accepted"):
        _post(f"https://receiver.test:{server.port}/bcl", resolver=CountingResolver("127.0.0.1"))


def _self_signed(name: str, directory) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
