"""HttpxIntegrationClient connects only to addresses it checked, whatever DNS says.

A loopback server stands for the inside of the network. DNS is a resolver the test
injects (no real lookups but `localhost`); the sockets are real for loopback and
the internet is unreachable (FakeNetwork), so a test can see every address the
client tried to connect to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import pytest

from app.adapters.http.address_pinning import Resolver, system_resolver
from app.adapters.http.integration_client import HttpxIntegrationClient
from app.domain.errors import NonRetryableError, RetryableError
from tests.http_servers import serving

PUBLIC = "93.184.216.34"


class InsideServer(ThreadingHTTPServer):
    """A service on loopback that no task should reach by name; records each request."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Answer)
        self.seen: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class Answer(BaseHTTPRequestHandler):
    server: InsideServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"secret")


@pytest.fixture
def inside() -> Iterator[InsideServer]:
    with serving(InsideServer()) as httpd:
        yield httpd


class Dns:
    """Answers each lookup with the next of `answers` (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


class FakeNetwork(httpcore.AsyncNetworkBackend):
    """Real sockets to loopback, none to the internet; a name is looked up in `dns`,
    as the operating system would. `reroute` sends every connection to that port on
    loopback instead (a network that does not deliver where it was asked)."""

    def __init__(self, dns: Dns, reroute: int | None = None) -> None:
        self.dns = dns
        self.reroute = reroute
        self.connected: list[str] = []
        self.real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = ipaddress.ip_address((await self.dns(host, port))[0])
        self.connected.append(str(address))
        if self.reroute is not None:
            return await self.real.connect_tcp("127.0.0.1", self.reroute, timeout)
        if not address.is_loopback:
            raise httpcore.ConnectError("no internet in tests")
        return await self.real.connect_tcp(str(address), port, timeout)

    async def sleep(self, seconds: float) -> None:
        await self.real.sleep(seconds)


async def call(
    url: str,
    allowed: set[str],
    dns: Resolver = system_resolver,
    network: FakeNetwork | None = None,
) -> bytes:
    client = HttpxIntegrationClient(
        frozenset(allowed), timeout=2, max_response_bytes=1000, resolver=dns, network=network
    )
    try:
        response = await client.request("GET", url, headers={}, timeout=2)
    finally:
        await client.aclose()
    return response.body


async def test_localhost_listed_by_name_is_refused(inside: InsideServer) -> None:
    with pytest.raises(NonRetryableError) as caught:
        await call(
            f"http://localhost:{inside.port}/admin?token=s3cret",
            {f"http://localhost:{inside.port}"},
        )
    assert caught.value.code == "AddressNotAllowed"
    assert str(caught.value).startswith(f"GET localhost:{inside.port}: localhost resolves to ")
    assert "a loopback address no allowed host names" in str(caught.value)
    assert "admin" not in str(caught.value) and "s3cret" not in str(caught.value)
    assert inside.seen == []


async def test_a_name_that_resolves_to_loopback_is_refused(inside: InsideServer) -> None:
    dns = Dns(["127.0.0.1"])
    with pytest.raises(NonRetryableError) as caught:
        await call(f"http://svc.test:{inside.port}/", {f"http://svc.test:{inside.port}"}, dns)
    assert str(caught.value) == (
        f"GET svc.test:{inside.port}: svc.test resolves to "
        "127.0.0.1, a loopback address no allowed host names"
    )
    assert inside.seen == []


async def test_a_name_that_resolves_to_loopback_is_called_when_the_address_is_listed_too(
    inside: InsideServer,
) -> None:
    allowed = {f"http://svc.test:{inside.port}", f"http://127.0.0.1:{inside.port}"}
    body = await call(f"http://svc.test:{inside.port}/status", allowed, Dns(["127.0.0.1"]))
    assert (body, inside.seen) == (b"secret", ["/status"])


async def test_an_address_listed_itself_is_called_without_lookup(inside: InsideServer) -> None:
    body = await call(f"http://127.0.0.1:{inside.port}/", {f"http://127.0.0.1:{inside.port}"})
    assert (body, inside.seen) == (b"secret", ["/"])


async def test_the_metadata_service_is_refused_behind_a_name() -> None:
    dns = Dns(["169.254.169.254"])
    with pytest.raises(NonRetryableError) as caught:
        await call("http://meta.test/latest/meta-data/", {"http://meta.test"}, dns)
    assert "169.254.169.254, a cloud metadata address" in str(caught.value)


async def test_one_inside_address_among_public_ones_refuses_the_name(
    inside: InsideServer,
) -> None:
    dns = Dns([PUBLIC, "127.0.0.1"])
    network = FakeNetwork(dns)
    with pytest.raises(NonRetryableError) as caught:
        await call(
            f"http://svc.test:{inside.port}/", {f"http://svc.test:{inside.port}"}, dns, network
        )
    assert caught.value.code == "AddressNotAllowed"
    assert (network.connected, inside.seen) == ([], [])


async def test_dns_rebinding_never_reaches_loopback(inside: InsideServer) -> None:
    # The attacker's DNS answers a public address to the check, then loopback.
    dns = Dns([PUBLIC], ["127.0.0.1"])
    network = FakeNetwork(dns)
    url, allowed = f"http://rebind.test:{inside.port}/", {f"http://rebind.test:{inside.port}"}
    with pytest.raises(RetryableError) as unreachable:
        await call(url, allowed, dns, network)
    # The connection went to the address checked, not to a second lookup's answer.
    assert unreachable.value.code == "IntegrationUnreachable"
    assert (dns.lookups, network.connected) == (["rebind.test"], [PUBLIC])
    # The next call looks up again, sees loopback and refuses before connecting.
    with pytest.raises(NonRetryableError) as refused:
        await call(url, allowed, dns, network)
    assert refused.value.code == "AddressNotAllowed"
    assert (network.connected, inside.seen) == ([PUBLIC], [])


async def test_a_connection_that_lands_on_loopback_sends_nothing(inside: InsideServer) -> None:
    dns = Dns([PUBLIC])
    network = FakeNetwork(dns, reroute=inside.port)
    with pytest.raises(NonRetryableError) as caught:
        await call("http://svc.test/", {"http://svc.test"}, dns, network)
    assert str(caught.value) == (
        "GET svc.test: the connection reached 127.0.0.1, a loopback address no allowed host names"
    )
    assert (network.connected, inside.seen) == ([PUBLIC], [])
