"""The client's address behind trusted reverse proxies (API_TRUSTED_PROXIES).

The TCP peer is the client unless it is a proxy we trust; only then do the headers a
proxy adds say who is behind it. A proxy appends the address it received a connection
from, so the hops read right to left: the right-most address that is not itself a
trusted proxy is the client. Anything left of it was written by the client and is
never believed, so a client cannot choose the address its limits are counted under.

`X-Forwarded-For` is read first (every common proxy sets it); RFC 7239 `Forwarded:
for=` only when it is absent. No I/O here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedProxies = tuple[IpNetwork, ...]


def parse_trusted_proxies(value: str) -> TrustedProxies:
    """Comma-separated addresses or CIDRs ("10.0.0.0/8, ::1"); ValueError names each bad one."""
    networks, problems = [], []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            problems.append(f"{entry!r} is not an IP address or CIDR")
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(networks)


def client_address(
    peer: str | None,
    *,
    forwarded_for: Sequence[str] = (),
    forwarded: Sequence[str] = (),
    trusted: TrustedProxies = (),
) -> str | None:
    """Who sent the request: `peer` itself unless it is trusted, else the right-most hop
    of the proxy headers (every line of a header, in order) that is not trusted.

    A malformed hop, or one a proxy hid ("unknown", "_secret"), ends the walk: the
    nearest address we could still vouch for is used, never anything left of it.
    """
    peer_address = _address(peer) if peer is not None else None
    if peer_address is None or not _is_trusted(peer_address, trusted):
        return str(peer_address) if peer_address is not None else peer
    if forwarded_for:
        hops = [_address(hop) for hop in _split(forwarded_for)]
    elif forwarded:
        hops = [_forwarded_for(element) for element in _split(forwarded)]
    else:
        return str(peer_address)
    nearest = peer_address
    for hop in reversed(hops):
        if hop is None:
            break
        nearest = hop
        if not _is_trusted(hop, trusted):
            break
    return str(nearest)


def _is_trusted(address: IpAddress, trusted: Iterable[IpNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def _split(lines: Sequence[str]) -> list[str]:
    """The comma-separated items of every line of a header, outside quoted strings."""
    items: list[str] = []
    for line in lines:
        current: list[str] = []
        quoted = False
        for char in line:
            if char == '"':
                quoted = not quoted
            if char == "," and not quoted:
                items.append("".join(current).strip())
                current = []
            else:
                current.append(char)
        items.append("".join(current).strip())
    return items


def _forwarded_for(element: str) -> IpAddress | None:
    """The address in one RFC 7239 element's `for=` ('for=192.0.2.1;proto=https')."""
    for pair in element.split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name.strip().lower() == "for":
            return _address(value.strip().strip('"'))
    return None


def _address(text: str) -> IpAddress | None:
    """An address as proxies write it: bare, "[v6]" or "[v6]:port", "v4:port"; else None."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _is_port(rest)):
            return None
        text = host
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port(rest: str) -> bool:
    return rest.startswith(":") and rest[1:].isdigit() and len(rest) <= 6
