"""idp/outbound.py: the SSRF guard's address rules as a table, and refusals made before any connection.

The transport against real receivers (deadlines, the answer's cap, DNS answers that change) is
tested on loopback servers in tests/e2e/test_backchannel.py.
"""
from __future__ import annotations

import ipaddress
import socket

import pytest

from idp import outbound
from idp.outbound import AddressPolicy, TargetForbidden, Unreachable

GUARDED = AddressPolicy()


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "a loopback address"),
        ("127.1.2.3", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata services
        ("fe80::1", "a link-local address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "not a globally reachable address"),  # carrier-grade NAT, RFC 6598
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped: judged as the IPv4 address
        ("::ffff:10.0.0.5", "a private address"),
        ("::ffff:93.184.215.14", None),
    ],
)
def test_only_globally_reachable_unicast_addresses_pass_the_guard(address, refusal):
    assert GUARDED.refusal(ipaddress.ip_address(address)) == refusal


def test_an_allowed_network_lets_its_addresses_through_mapped_or_not():
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("::1/128")))

    assert policy.refusal(ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:10.20.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("::1")) is None
    assert policy.refusal(ipaddress.ip_address("10.21.0.1")) == "a private address"
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) == "a loopback address"


def test_allow_all_lets_everything_through():
    assert AddressPolicy(allow_all=True).refusal(ipaddress.ip_address("169.254.169.254")) is None


class Resolver:
    """A DNS that answers from a table and counts the questions."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[tuple]:
        self.asked.append((host, port))
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in self.addresses
        ]


def _post(url: str, resolver, policy: AddressPolicy = GUARDED) -> outbound.Answer:
    return outbound.post_form(url, {"logout_token": "t"}, policy=policy, connect_timeout=3, total_timeout=5,
                              max_response_bytes=1024, resolver=resolver)


@pytest.fixture
def no_connections(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(outbound.socket, "socket", refuse)


def test_a_name_with_any_private_address_is_refused_whole_before_connecting(no_connections):
    resolver = Resolver("93.184.215.14", "10.0.0.5")

    with pytest.raises(TargetForbidden) as refused:
        _post("https://rp.example/backchannel-logout", resolver)

    assert refused.value.description.startswith("rp.example resolves to 10.0.0.5, a private address")
    assert refused.value.code == "target_forbidden"
    assert resolver.asked == [("rp.example", 443)]


def test_an_ip_literal_is_judged_like_a_name(no_connections):
    with pytest.raises(TargetForbidden, match="169.254.169.254, a link-local address"):
        _post("http://169.254.169.254/latest/meta-data/", outbound.resolve)


def test_a_name_that_does_not_resolve_is_unreachable(no_connections):
    def nxdomain(host: str, port: int) -> list:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(Unreachable, match="rp.invalid does not resolve"):
        _post("https://rp.invalid/bcl", nxdomain)


def test_a_connection_outside_post_form_is_refused():
    session = outbound.requests.Session()
    session.mount("http://", outbound._GuardedAdapter())

    with pytest.raises(TargetForbidden, match="outside post_form"):
        session.post("http://127.0.0.1:9/", data={"logout_token": "t"}, timeout=1)
