"""Outbound HTTP to URLs that clients registered, guarded against server-side request forgery.

A client's `backchannel_logout_uri` is written by whoever registers the client, and the issuer
posts to it from inside its own network. Unguarded, registering http://169.254.169.254/ (a cloud
metadata service) or http://10.0.0.5:6379/ would make the issuer a proxy into places only it can
reach (SSRF: CWE-918, OWASP ASVS V12.6.1). So every call made here:

- resolves the host and goes ahead only if **every** address it resolves to is allowed: globally
  reachable unicast (not private, loopback, link-local, multicast, reserved, shared or unspecified;
  an IPv4-mapped IPv6 address is judged as its IPv4 address), or inside a network the operator
  allowed (`AddressPolicy.allowed_networks`), or anything when the policy allows all (demo mode);
- connects to exactly the addresses it checked. The check runs inside the connection itself
  (urllib3's `_new_conn`), on the one answer it then connects to, so a DNS answer that changes
  between a check and a connection (DNS rebinding) can never slip a private address in. TLS still
  verifies the certificate, and sends SNI, for the URL's host name;
- ignores proxy settings from the environment (a proxy would connect on the issuer's behalf,
  unchecked) and follows no redirect (its target is the receiver's to choose, unchecked);
- takes at most `connect_timeout` to connect and `total_timeout` for the whole exchange. requests'
  read timeout is per read, so a receiver that trickles its answer a byte at a time would never
  trip it: a timer shuts the connection down at the deadline instead. Name resolution is bounded
  by the system resolver's own timeouts;
- reads at most `max_response_bytes` of the answer, and asks for it uncompressed.

Nothing here reads settings: the caller passes the policy and the limits (idp/backchannel.py).
Error messages name the host and what went wrong, never what was sent.
"""
from __future__ import annotations

import contextvars
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from relying_party.exceptions import CodedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# socket.getaddrinfo's answer: (family, type, proto, canonname, sockaddr) tuples.
Resolver = Callable[[str, int], list[tuple[Any, ...]]]

# RFC 6749 §5.2's error codes, as a receiver may answer a 400 with (Back-Channel Logout 1.0 §2.8);
# short and lower case, so nothing the issuer sent can be echoed into a log this way.
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


# The first that applies names the refusal.
_REFUSALS = (
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_reserved", "a reserved address"),
    ("is_private", "a private address"),
)


class OutboundError(CodedError):
    """A call out got no answer; the description says why, for the operator, never what was sent."""

    code = "outbound_failed"
    description = "The call out failed"


class TargetForbidden(OutboundError):
    """The URL's host resolves to an address the policy does not allow (the SSRF guard)."""

    code = "target_forbidden"


class Unreachable(OutboundError):
    """No connection could be made, or it broke before the answer was complete."""

    code = "target_unreachable"


class TimedOut(OutboundError):
    """Connecting, or the whole exchange, took longer than allowed."""

    code = "target_timeout"


@dataclass(frozen=True)
class Answer:
    """What the receiver answered: its status, and the OAuth-style `error` code of an error body, if any."""

    status: int
    error: str | None = None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses outbound calls may reach: public ones, those in `allowed_networks`, or with `allow_all` any."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allow_all: bool = False

    def refusal(self, address: IPAddress) -> str | None:
        """Return why `address` may not be called, or None if it may."""
        judged = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
        if self.allow_all or any(a in network for a in {address, judged} for network in self.allowed_networks):
            return None
        for kind, refusal in _REFUSALS:
            if getattr(judged, kind):
                return refusal
        # Multicast is refused above: some multicast ranges count as global.
        return None if judged.is_global else "not a globally reachable address"


def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    """Resolve `host` for a TCP connection to `port`, as the system resolver answers."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def post_form(
    url: str,
    fields: Mapping[str, str],
    *,
    policy: AddressPolicy,
    connect_timeout: float,
    total_timeout: float,
    max_response_bytes: int,
    resolver: Resolver = resolve,
) -> Answer:
    """POST `fields` form-encoded to `url` under `policy` and the limits; return the answer, or raise OutboundError."""
    parts = urlsplit(url)
    target = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    exchange = _Exchange(policy, resolver, connect_timeout, total_timeout)
    current = _exchange.set(exchange)
    session = requests.Session()
    # No proxies, no .netrc credentials, no CA bundle path from the environment.
    session.trust_env = False
    adapter = _GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    try:
        exchange.start()
        response = session.post(
            url, data=dict(fields), timeout=(connect_timeout, total_timeout), allow_redirects=False, stream=True,
            headers={"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "Kunci"},
        )
        try:
            body = _read_capped(response, max_response_bytes)
        finally:
            response.close()
        if exchange.expired:
            # Cut off mid-answer: http.client takes the shut-down connection for the end of the
            # headers or the body, so what was read so far proves nothing.
            raise TimedOut(f"{target} did not answer within {total_timeout:g} s")
        return Answer(response.status_code, _error_code(response, body))
    except OutboundError:
        raise
    except (requests.RequestException, OSError) as error:
        if exchange.expired or isinstance(error, requests.Timeout):
            raise TimedOut(f"{target} did not answer within {total_timeout:g} s") from None
        raise Unreachable(f"{target}: {_describe(error)}") from None
    finally:
        exchange.finish()
        session.close()
        _exchange.reset(current)


# The exchange in progress in this thread: its connections find their guard and deadline here.
_exchange: contextvars.ContextVar[_Exchange] = contextvars.ContextVar("kunci_outbound_exchange")


class _Exchange:
    """One call's guard and deadline, which the connections it opens consult."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver, connect_timeout: float, total_timeout: float) -> None:
        self.policy = policy
        self.resolver = resolver
        self.connect_timeout = connect_timeout
        self.deadline = time.monotonic() + total_timeout
        self.expired = False
        self._lock = threading.Lock()
        self._finished = False
        # Duplicates of the connections' descriptors: shutting one down ends the connection even
        # under TLS, and being ours they can never name another socket after the connection closes.
        self._watched: list[socket.socket] = []
        self._timer = threading.Timer(total_timeout, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._timer.cancel()
            for watched in self._watched:
                watched.close()

    def connect(self, host: str, port: int, options: list[tuple[int, int, int]]) -> socket.socket:
        """Resolve `host`, refuse it unless every address is allowed, and connect to one of those addresses."""
        target = f"{host}:{port}"
        try:
            answers = self.resolver(host, port)
        except OSError as error:
            raise Unreachable(f"{host} does not resolve ({error.strerror or error})") from None
        if not answers:
            raise Unreachable(f"{host} does not resolve")
        for *_, sockaddr in answers:
            address = ipaddress.ip_address(sockaddr[0].split("%")[0])
            if (reason := self.policy.refusal(address)) is not None:
                raise TargetForbidden(f"{host} resolves to {address}, {reason}")
        failure: OutboundError = Unreachable(f"could not connect to {target}")
        for family, kind, proto, _, sockaddr in answers:
            sock = socket.socket(family, kind, proto)
            try:
                for option in options:
                    sock.setsockopt(*option)
                sock.settimeout(max(0.001, min(self.connect_timeout, self.deadline - time.monotonic())))
                sock.connect(sockaddr)
            except TimeoutError:
                sock.close()
                failure = TimedOut(f"connecting to {target} took over {self.connect_timeout:g} s")
                continue
            except OSError as error:
                sock.close()
                failure = Unreachable(f"could not connect to {target}: {_describe(error)}")
                continue
            self._watch(sock)
            return sock
        raise failure

    def _watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._watched.append(sock.dup())
            if self.expired:
                _shut_down(self._watched[-1])

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for watched in self._watched:
                _shut_down(watched)


def _shut_down(sock: socket.socket) -> None:
    # A blocked read on the connection returns at once, as if the peer had closed it.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _GuardedConnectionMixin:
    """urllib3 connections that open their socket through the exchange's guard, never on their own."""

    host: str
    port: int
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        exchange = _exchange.get(None)
        if exchange is None:
            raise TargetForbidden("an outbound connection outside post_form() is refused")
        return exchange.connect(self.host, self.port, list(self.socket_options or ()))


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def _read_capped(response: requests.Response, limit: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(chunk_size=4096):
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
    return bytes(body)


def _error_code(response: requests.Response, body: bytes) -> str | None:
    if response.status_code < 400 or "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None
    return error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None


def _describe(error: BaseException) -> str:
    """Say what failed, from the innermost error that knows (a refused connection, a TLS failure)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return f"TLS failed ({seen.reason or type(seen).__name__})"
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        if type(seen).__name__ == "RemoteDisconnected":
            return "the connection closed before an answer"
        reason = getattr(seen, "reason", None)  # urllib3's MaxRetryError keeps its cause here
        seen = seen.__cause__ or seen.__context__ or (reason if isinstance(reason, BaseException) else None)
    return type(error).__name__
