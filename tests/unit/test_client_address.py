"""The client's address: the peer, or behind trusted proxies the right-most hop that is
not a trusted proxy; what a client writes itself is never believed."""

from __future__ import annotations

import pytest

from app.domain.client_address import client_address, parse_trusted_proxies

PROXIES = parse_trusted_proxies("10.0.0.0/8, 127.0.0.1, fd00::/8")


def test_with_no_trusted_proxy_the_headers_are_ignored() -> None:
    assert client_address("10.0.0.5", forwarded_for=["203.0.113.7"]) == "10.0.0.5"
    assert client_address("10.0.0.5", forwarded=["for=203.0.113.7"]) == "10.0.0.5"


def test_a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_it_sends() -> None:
    spoofed = client_address("198.51.100.9", forwarded_for=["1.2.3.4"], trusted=PROXIES)
    assert spoofed == "198.51.100.9"


def test_behind_a_trusted_proxy_the_forwarded_for_address_is_the_client() -> None:
    assert client_address("10.0.0.5", forwarded_for=["203.0.113.7"], trusted=PROXIES) == (
        "203.0.113.7"
    )


def test_what_a_client_prepends_to_x_forwarded_for_is_not_believed() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the real peer.
    header = ["1.2.3.4, 203.0.113.7"]
    assert client_address("10.0.0.5", forwarded_for=header, trusted=PROXIES) == "203.0.113.7"


def test_a_client_naming_a_trusted_address_does_not_pass_for_a_proxy() -> None:
    header = ["10.9.9.9, 203.0.113.7"]
    assert client_address("10.0.0.5", forwarded_for=header, trusted=PROXIES) == "203.0.113.7"


def test_several_trusted_hops_are_walked_through() -> None:
    header = ["1.2.3.4, 203.0.113.7, 10.0.0.2, 10.0.0.3"]
    assert client_address("127.0.0.1", forwarded_for=header, trusted=PROXIES) == "203.0.113.7"


def test_every_line_of_the_header_counts_in_order() -> None:
    lines = ["1.2.3.4", "203.0.113.7, 10.0.0.2"]
    assert client_address("10.0.0.5", forwarded_for=lines, trusted=PROXIES) == "203.0.113.7"


def test_when_every_hop_is_trusted_the_first_one_is_the_client() -> None:
    header = ["10.0.0.1, 10.0.0.2"]
    assert client_address("10.0.0.5", forwarded_for=header, trusted=PROXIES) == "10.0.0.1"


@pytest.mark.parametrize(
    ("header", "client"),
    [
        (["2001:db8::7"], "2001:db8::7"),
        (["[2001:db8::7]:4711"], "2001:db8::7"),
        (["203.0.113.7:4711"], "203.0.113.7"),
        (["::ffff:203.0.113.7"], "203.0.113.7"),
        (["2001:db8::7, fd00::2"], "2001:db8::7"),
    ],
)
def test_ipv6_and_ports_are_understood(header: list[str], client: str) -> None:
    assert client_address("fd00::1", forwarded_for=header, trusted=PROXIES) == client


@pytest.mark.parametrize(
    ("header", "client"),
    [
        # Garbage the client wrote stays left of the hop the proxy wrote.
        (["not-an-address, 203.0.113.7"], "203.0.113.7"),
        # Garbage right of every real hop: the nearest address we can vouch for.
        (["203.0.113.7, bogus"], "10.0.0.5"),
        (["203.0.113.7, 10.0.0.2, 999.1.1.1"], "10.0.0.5"),
        (["203.0.113.7, 10.0.0.2, "], "10.0.0.5"),
        (["203.0.113.7, 10.0.0.2, bogus, 10.0.0.3"], "10.0.0.3"),
        (["[2001:db8::7"], "10.0.0.5"),
        (["203.0.113.7:port"], "10.0.0.5"),
        ([""], "10.0.0.5"),
    ],
)
def test_a_malformed_hop_ends_the_walk(header: list[str], client: str) -> None:
    assert client_address("10.0.0.5", forwarded_for=header, trusted=PROXIES) == client


@pytest.mark.parametrize(
    ("header", "client"),
    [
        (["for=203.0.113.7"], "203.0.113.7"),
        (['For="[2001:db8::7]:4711";proto=https'], "2001:db8::7"),
        (['for="203.0.113.7:80"'], "203.0.113.7"),
        (["for=1.2.3.4, for=203.0.113.7;by=10.0.0.5"], "203.0.113.7"),
        (["for=203.0.113.7, for=10.0.0.2"], "203.0.113.7"),
        (["for=1.2.3.4", "for=203.0.113.7"], "203.0.113.7"),
        # Hidden or unknown hops end the walk, as malformed ones do.
        (["for=203.0.113.7, for=unknown"], "10.0.0.5"),
        (["for=203.0.113.7, for=_hidden"], "10.0.0.5"),
        (["for=203.0.113.7, proto=https"], "10.0.0.5"),
        # A comma inside a quoted value does not split an element.
        (['for=203.0.113.7;host="a,b"'], "203.0.113.7"),
    ],
)
def test_rfc_7239_forwarded_for_is_read_the_same_way(header: list[str], client: str) -> None:
    assert client_address("10.0.0.5", forwarded=header, trusted=PROXIES) == client


def test_x_forwarded_for_is_read_before_forwarded() -> None:
    address = client_address(
        "10.0.0.5", forwarded_for=["203.0.113.7"], forwarded=["for=1.2.3.4"], trusted=PROXIES
    )
    assert address == "203.0.113.7"


def test_a_trusted_peer_without_headers_is_the_client() -> None:
    assert client_address("10.0.0.5", trusted=PROXIES) == "10.0.0.5"


def test_a_peer_that_is_not_an_address_is_kept_as_it_is() -> None:
    assert client_address("unix-socket", forwarded_for=["1.2.3.4"], trusted=PROXIES) == (
        "unix-socket"
    )
    assert client_address(None, forwarded_for=["1.2.3.4"], trusted=PROXIES) is None


def test_trusted_proxies_are_addresses_or_cidrs() -> None:
    assert [str(network) for network in parse_trusted_proxies(" 10.0.0.0/8 ,::1,, ")] == [
        "10.0.0.0/8",
        "::1/128",
    ]
    assert parse_trusted_proxies("") == ()
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an IP address or CIDR"):
        parse_trusted_proxies("10.0.0.1, proxy.local")
