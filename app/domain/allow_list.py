"""The ExternalIntegration allow-list: which scheme, host and port a task may call.

An entry is `host` or `host:port` (https only), or `https://host[:port]`, or
`http://host[:port]` (plain http to exactly that host and port). Each becomes one key,
`scheme://host:port`, and a URL is allowed when its own key is listed. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

DEFAULT_PORTS = {"http": 80, "https": 443}
ENTRY_FORMS = "host, host:port, https://host[:port] or http://host[:port]"
_HOST_PORT = re.compile(r"(?P<host>[a-z0-9.\-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")


def allow_list_key(entry: str) -> str:
    """The key of one allow-list entry ("https://api.example.com:443"); ValueError if bad.

    Keys are entries too, so normalising twice changes nothing.
    """
    text = entry.strip().lower()
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "https", text
    elif scheme not in DEFAULT_PORTS:
        raise ValueError(f"{entry!r}: only http:// and https:// entries are allowed")
    if any(mark in rest for mark in "/?#@"):
        raise ValueError(f"{entry!r}: an entry is a host and port, with no path, query or user")
    match = _HOST_PORT.fullmatch(rest)
    port = int(match["port"]) if match and match["port"] else DEFAULT_PORTS[scheme]
    if match is None or not 0 < port < 65536:
        raise ValueError(f"{entry!r} is not {ENTRY_FORMS}")
    host = match["host"]
    try:
        if host.startswith("["):
            host = str(ipaddress.IPv6Address(host[1:-1]))
        return target_key(scheme, host, port)
    except ValueError:
        raise ValueError(f"{entry!r}: {match['host']} is not an IPv6 address") from None


def allow_list_keys(entries: Iterable[str]) -> frozenset[str]:
    """The keys of every entry (see `allow_list_key`)."""
    return frozenset(allow_list_key(entry) for entry in entries)


def target_key(scheme: str, host: str, port: int | None) -> str:
    """The key of a URL's target: "scheme://host:port", the port always written out.

    `host` is lower-case and unbracketed; an IPv6 address is compressed ("::1") so
    two spellings of one address meet, and ValueError is raised if it is not one.
    """
    if ":" in host:
        host = f"[{ipaddress.IPv6Address(host).compressed}]"
    return f"{scheme}://{host}:{DEFAULT_PORTS[scheme] if port is None else port}"


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata (AWS, GCP, Azure, …; and AWS's IPv6 endpoint): credentials
# live there, so it is named on its own in refusals.
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, inside a provider
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # an IPv4 address behind a NAT64 gateway


def address_kind(address: IpAddress) -> str | None:
    """What makes `address` reach inside rather than the internet ("loopback",
    "private", "cloud metadata", …), or None for a public unicast address.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged
    by the IPv4 address it leads to.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return address_kind(embedded)
    checks = (
        (address in _METADATA, "cloud metadata"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_unspecified, "unspecified"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED, "shared"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-global"),
    )
    return next((kind for matched, kind in checks if matched), None)


def address_refusal(address: IpAddress, port: int, allowed: frozenset[str]) -> str | None:
    """Why a connection to `address` on `port` is refused ("127.0.0.1, a loopback
    address no allowed host names"), or None when it may be made.

    A public address may be reached through any allowed host name. Any other
    (loopback, private, link-local, metadata, …) only when an allow-list key names
    that address and port itself ("http://127.0.0.1:8080"), so a listed name that
    resolves inside the network does not take a task there.
    """
    kind = address_kind(address)
    if kind is None:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # the entry names it as IPv4
    if any(target_key(scheme, str(address), port) in allowed for scheme in DEFAULT_PORTS):
        return None
    return f"{address}, a {kind} address no allowed host names"
