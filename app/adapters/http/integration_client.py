"""HttpxIntegrationClient: the IntegrationClient port over httpx.

It checks the allow-list again, on the URL as httpx parses it (the host it will
actually connect to), so a URL that two parsers read differently cannot slip past
the handler's check. It follows no redirects (a 3xx is an answer, not a hop to a
host nobody allowed), reads the body as a stream and stops past the size limit,
takes no proxy or credentials from the environment, and keeps no cookies between
calls, which belong to different tasks and tenants.

It connects only to checked addresses (address_pinning): an allowed name that
resolves to loopback, a private network or the metadata service is refused unless
an allow-list entry names that address, and DNS rebinding cannot move the
connection after the check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpcore
import httpx

from app.adapters.http.address_pinning import (
    AddressRefused,
    PinnedNetworkBackend,
    PinnedTransport,
    Resolver,
    system_resolver,
)
from app.application.capabilities.integration import (
    IntegrationResponse,
    allow_list_refusal,
    host_key,
)
from app.domain.allow_list import allow_list_keys
from app.domain.errors import NonRetryableError, RetryableError

USER_AGENT = "assistente-tasks"


class HttpxIntegrationClient:
    """HTTP calls for ExternalIntegration tasks, to `allowed_hosts` only.

    `allowed_hosts` are allow-list entries or keys (see CapabilityLimits): a bare
    host is https-only; plain http needs an "http://host[:port]" entry. `resolver`
    and `network` replace DNS and the sockets (tests).
    """

    def __init__(
        self,
        allowed_hosts: frozenset[str],
        timeout: float,
        max_response_bytes: int,
        resolver: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allowed = allow_list_keys(allowed_hosts)
        transport = PinnedTransport(PinnedNetworkBackend(self._allowed, resolver, network))
        self._timeout = timeout
        self._max_bytes = max_response_bytes
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            # No HTTP(S)_PROXY, no .netrc passwords sent to whoever the task names.
            trust_env=False,
            # A jar whose policy accepts no cookie: nothing set by one call reaches another.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            headers={
                "user-agent": USER_AGENT,
                # Compressed bodies could expand far past the limit within one chunk.
                "accept-encoding": "identity",
            },
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        body: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  (see IntegrationClient.request)
    ) -> IntegrationResponse:
        """Send one request and read the whole (bounded) response."""
        what = f"{method} {self.check(url)}"
        limit = timeout or self._timeout
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                request = self._client.build_request(
                    method,
                    url,
                    headers=_with_content_type(headers, body),
                    json=json_body,
                    content=body.encode("utf-8") if body is not None else None,
                    timeout=limit,
                )
                response = await self._client.send(request, stream=True)
                try:
                    data = await self._read(response, what)
                finally:
                    await response.aclose()
        except AddressRefused as refused:
            raise NonRetryableError(f"{what}: {refused}", code="AddressNotAllowed") from None
        except (TimeoutError, httpx.TimeoutException):
            raise RetryableError(
                f"{what} did not answer within {limit:g}s", code="IntegrationTimeout"
            ) from None
        except httpx.ConnectError:
            raise RetryableError(
                f"{what}: could not connect", code="IntegrationUnreachable"
            ) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            raise NonRetryableError(f"{what}: the URL is not valid", code="BadPayload") from None
        except httpx.TransportError as error:
            # The connection broke mid-way (reset, protocol error): worth another try.
            raise RetryableError(
                f"{what}: {type(error).__name__}", code="IntegrationFailed"
            ) from None
        return IntegrationResponse(
            status=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=data,
            latency_ms=int((time.monotonic() - started) * 1000),
        )

    def check(self, url: str) -> str:
        """The target's host key if `url` may be called; NonRetryableError otherwise."""
        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii").lower()
        except (httpx.InvalidURL, UnicodeDecodeError):
            raise NonRetryableError("the URL is not valid", code="BadPayload") from None
        if parsed.scheme not in {"http", "https"} or not host:
            raise NonRetryableError("only http:// and https:// URLs are called", code="BadPayload")
        if parsed.userinfo:
            raise NonRetryableError("a URL must not carry credentials", code="BadPayload")
        try:
            refusal = allow_list_refusal(parsed.scheme, host, parsed.port, self._allowed)
        except ValueError:
            raise NonRetryableError("the URL is not valid", code="BadPayload") from None
        if refusal is not None:
            raise NonRetryableError(refusal, code="HostNotAllowed")
        return host_key(host, parsed.port, parsed.scheme)

    async def _read(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise self._too_large(what)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in {"", "identity"}:
            # We asked for identity; a server compressing anyway could send a bomb that
            # expands past the limit inside one chunk, so it is not decoded at all.
            raise NonRetryableError(
                f"{what}: the response is {encoding}-encoded though identity was asked for",
                code="ResponseEncoded",
            )
        data = bytearray()
        async for chunk in response.aiter_raw():
            data += chunk
            if len(data) > self._max_bytes:
                raise self._too_large(what)
        return bytes(data)

    def _too_large(self, what: str) -> NonRetryableError:
        return NonRetryableError(
            f"{what}: the response is larger than {self._max_bytes} bytes", code="ResponseTooLarge"
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _with_content_type(headers: Mapping[str, str], body: str | None) -> dict[str, str]:
    merged = dict(headers)
    if body is not None and not any(name.lower() == "content-type" for name in merged):
        merged["content-type"] = "text/plain; charset=utf-8"
    return merged
