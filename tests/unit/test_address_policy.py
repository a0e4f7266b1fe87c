"""Which addresses an allowed host name may lead to: public ones, and others only when named."""

from __future__ import annotations

import ipaddress

import pytest

from app.domain.allow_list import address_kind, address_refusal, allow_list_keys


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "shared"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("240.0.0.1", "private"),
        ("192.0.2.1", "private"),  # documentation ranges are not on the internet either
        # IPv6 spellings of IPv4 addresses are judged by the IPv4 address.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_addresses_inside_the_network_are_named_by_kind(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_have_no_kind(address: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) is None


ALLOWED = allow_list_keys({"api.example.com", "http://127.0.0.1:8080", "https://[fd00::5]:8443"})


@pytest.mark.parametrize(
    ("address", "port"),
    [
        ("93.184.216.34", 443),
        ("127.0.0.1", 8080),
        ("::ffff:127.0.0.1", 8080),  # the same address, IPv4-mapped
        ("fd00::5", 8443),
    ],
)
def test_public_addresses_and_addresses_an_entry_names_may_be_reached(
    address: str, port: int
) -> None:
    assert address_refusal(ipaddress.ip_address(address), port, ALLOWED) is None


@pytest.mark.parametrize(
    ("address", "port", "refusal"),
    [
        ("127.0.0.1", 443, "127.0.0.1, a loopback address no allowed host names"),
        ("127.0.0.2", 8080, "127.0.0.2, a loopback address no allowed host names"),
        ("169.254.169.254", 80, "169.254.169.254, a cloud metadata address no allowed host names"),
        ("10.0.0.1", 443, "10.0.0.1, a private address no allowed host names"),
    ],
)
def test_other_addresses_are_refused_unless_named_with_their_port(
    address: str, port: int, refusal: str
) -> None:
    assert address_refusal(ipaddress.ip_address(address), port, ALLOWED) == refusal
