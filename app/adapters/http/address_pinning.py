"""Connections for ExternalIntegration that go only to addresses checked first.

An allowed host *name* is not trusted to stay outside: it may resolve to loopback,
a private network or the cloud metadata service (169.254.169.254), and a name
whose DNS answer changes between a check and the connection (DNS rebinding) would
get past a check made on its own. So the name is resolved once, every address in
the answer is checked (`address_refusal`), the connection is made to a checked
address itself, and the peer of the established connection is checked again
before a byte is sent. TLS still verifies and names (SNI) the host, and the Host
header is still the name: httpcore hands both the URL's host, not the address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from app.domain.allow_list import IpAddress, address_refusal

# host, port -> the addresses the name resolves to (an address resolves to itself).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class AddressRefused(Exception):
    """The host resolves to (or the connection reached) an address nobody allowed."""


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The addresses getaddrinfo gives for `host`, in its order, without repeats."""
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:  # socket.gaierror: no such name, no DNS
        raise httpcore.ConnectError(f"cannot resolve {host}: {error.strerror}") from None
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses `allowed` permits.

    `allowed` holds allow-list keys; `network` makes the actual connections (the
    default is httpcore's AnyIO backend; tests pass their own).
    """

    def __init__(
        self,
        allowed: frozenset[str],
        resolver: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allowed = allowed
        self._resolve = resolver
        self._network = network or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve `host` once, refuse unless every address passes, then connect to
        the first that answers and check the peer it reached."""
        addresses = await self._checked_addresses(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._network.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
                continue
            await self._check_peer(stream, port)
            return stream
        assert failure is not None  # _checked_addresses never returns an empty list
        raise failure

    async def _checked_addresses(self, host: str, port: int) -> list[IpAddress]:
        answer = await self._resolve(host, port)
        addresses = [ipaddress.ip_address(text) for text in answer]
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            refusal = address_refusal(address, port, self._allowed)
            if refusal is not None:
                # One bad address refuses the name: a client falling back to it
                # after the good one fails is the other half of a rebinding attack.
                raise AddressRefused(f"{host} resolves to {refusal}")
        return addresses

    async def _check_peer(self, stream: httpcore.AsyncNetworkStream, port: int) -> None:
        peer = stream.get_extra_info("server_addr")
        try:
            address = ipaddress.ip_address(peer[0])
            refusal = address_refusal(address, port, self._allowed)
        except (TypeError, IndexError, ValueError):
            refusal = f"the peer address of the connection is unknown ({peer!r})"
        if refusal is not None:
            await stream.aclose()
            raise AddressRefused(f"the connection reached {refusal}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: an integration is a TCP host and port."""
        raise AddressRefused("unix sockets are not integration targets")

    async def sleep(self, seconds: float) -> None:
        """As the wrapped backend sleeps."""
        await self._network.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, over a connection pool using `backend`.

    httpx takes no network backend, so the pool it builds is replaced by one that
    does; the check below fails loudly, rather than silently unpinned, if a future
    httpx keeps its pool elsewhere.
    """

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        super().__init__(trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx.AsyncHTTPTransport no longer keeps its pool in _pool")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=backend,
        )
