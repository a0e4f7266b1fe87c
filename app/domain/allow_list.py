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
