"""ExternalIntegration: one HTTP call to an allowed host, and the IntegrationClient port.

The allow-list (its grammar is in limits.py) is https-only unless an entry names
http:// itself, so a task's credentials never cross the network in clear text to a
host listed by name. It is an application rule, checked here before the port is
called, and checked again by the adapter on the URL as its own HTTP library parses
it (two parsers must both agree before a request leaves). Error messages name the
method, the host and the status, never the path or query (they may carry secrets).
"""

from __future__ import annotations

import codecs
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, Protocol
from urllib.parse import urlsplit

from app.application.artifact_store import ArtifactStore
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.outputs import save_text
from app.application.capabilities.payloads import IntegrationPayload, parse_payload
from app.application.context import TaskContext
from app.domain.allow_list import DEFAULT_PORTS, target_key
from app.domain.errors import NonRetryableError, RetryableError
from app.domain.retry import retry_after_from_headers

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_IPV6_CHARS = frozenset("0123456789abcdef:.")


@dataclass(frozen=True, slots=True)
class IntegrationResponse:
    """What the other side answered. Header names are lower-case; `body` is complete."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    latency_ms: int


class IntegrationClient(Protocol):
    """Makes HTTP calls for ExternalIntegration tasks, to allowed hosts only.

    Implementations refuse hosts outside their allow-list themselves, refuse a
    listed name that resolves to an address inside the network (loopback, private,
    link-local, cloud metadata) unless an entry names that address (NonRetryableError,
    code AddressNotAllowed), connect only to the address they checked, follow no
    redirects, and raise RetryableError for timeouts and unreachable hosts and
    NonRetryableError for a response larger than their limit. An HTTP error status
    is not an exception: it comes back as a response for the handler to judge.
    """

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        body: str | None = None,
        # The adapter turns it into its library's per-phase timeouts as well as an
        # overall deadline, which a caller's asyncio.timeout alone could not do.
        timeout: float,  # noqa: ASYNC109
    ) -> IntegrationResponse:
        """Send one request (JSON when `json_body` is not None, else `body` as text)."""
        ...

    async def aclose(self) -> None:
        """Release connections (the worker calls it once, at shutdown)."""
        ...


def host_key(host: str, port: int | None, scheme: str) -> str:
    """How messages name a target: "host", or "host:port" for a port not the scheme's default."""
    shown = f"[{host}]" if ":" in host else host
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return shown
    return f"{shown}:{port}"


def allow_list_refusal(
    scheme: str, host: str, port: int | None, allowed: frozenset[str]
) -> str | None:
    """Why `allowed` refuses this target, or None when its key is there.

    `allowed` holds keys, as CapabilityLimits keeps them. ValueError when `host`
    looks like an IPv6 address (it has a colon) and is not one.
    """
    key = target_key(scheme, host, port)
    if key in allowed:
        return None
    origin = f"{scheme}://{host_key(host, port, scheme)}"
    listed = _key_host(key)
    schemes = {other.partition("://")[0] for other in allowed if _key_host(other) == listed}
    if scheme == "http" and schemes == {"https"}:
        # Worth its own words: the host is listed, but only for https.
        return f"{origin} is not allowed: only https is listed for {listed}"
    return f"{origin} is not in the allowed hosts"


def _key_host(key: str) -> str:
    return key.partition("://")[2].rpartition(":")[0]


def check_url(url: str, allowed: frozenset[str], where: str = "payload.request.url") -> str:
    """The target's host key if `url` may be called; NonRetryableError otherwise.

    `allowed` holds allow-list keys (CapabilityLimits.allowed_hosts).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise NonRetryableError(f"{where}: is not a valid URL", code="BadPayload") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        raise NonRetryableError(f"{where}: must be an http:// or https:// URL", code="BadPayload")
    if "@" in parts.netloc:
        raise NonRetryableError(
            f"{where}: must not carry a user name or password", code="BadPayload"
        )
    host = (parts.hostname or "").lower()
    ipv6 = parts.netloc.startswith("[")
    try:
        if not host or not set(host) <= (_IPV6_CHARS if ipv6 else _HOST_CHARS):
            raise ValueError(host)
        refusal = allow_list_refusal(scheme, host, port, allowed)
    except ValueError:
        raise NonRetryableError(
            f"{where}: the host must be a name, an IP address or [IPv6] in ASCII "
            "(internationalised names in their xn-- form)",
            code="BadPayload",
        ) from None
    if refusal is not None:
        raise NonRetryableError(f"{where}: {refusal}", code="HostNotAllowed")
    return host_key(host, port, scheme)


async def call_integration(
    ctx: TaskContext,
    *,
    integration: IntegrationClient,
    artifacts: ArtifactStore,
    limits: CapabilityLimits,
) -> dict[str, Any]:
    """Make the task's HTTP request; result {"status", "headers", "body"}.

    `headers` keeps only content-type; `body` is the parsed JSON for a JSON content
    type, else text; a body above the inline limit is stored as an artifact and
    the result has "bodyArtifact" instead. 429 (honouring Retry-After), 408 and 5xx
    are retried; any other 4xx dead-letters the task (code IntegrationRejected).
    """
    request = parse_payload(IntegrationPayload, ctx.payload, limits=limits).request
    target = check_url(request.url, limits.allowed_hosts)
    ctx.update(state="calling integration")
    response = await integration.request(
        request.method,
        request.url,
        headers=request.headers,
        json_body=request.json_body,
        body=request.body,
        timeout=limits.integration_timeout_seconds,
    )
    raise_for_status(response, f"{request.method} {target}")
    content_type = response.headers.get("content-type")
    result: dict[str, Any] = {
        "status": response.status,
        "headers": {"content-type": content_type} if content_type else {},
        "body": None,
    }
    if not response.body:
        return result
    is_json = is_json_type(content_type)
    saved = await save_text(
        ctx,
        decode_body(response.body, content_type),
        name="response.json" if is_json else "response.txt",
        artifacts=artifacts,
        limits=limits,
        kind="json" if is_json else "text",
        # Stored as the UTF-8 text it was decoded to, whatever charset it came in.
        content_type=f"{media_type(content_type) or 'text/plain'}; charset=utf-8",
    )
    if saved.reference is not None:
        return {**result, **saved.as_fields("body")}
    body: Any = saved.text
    if is_json and saved.text is not None:
        # A JSON content type over a body that is not JSON: keep it as text.
        with contextlib.suppress(ValueError):
            body = json.loads(saved.text)
    return {**result, "body": body}


def raise_for_status(response: IntegrationResponse, what: str) -> None:
    """RetryableError for 429/408/5xx, NonRetryableError for other 4xx; 2xx/3xx pass."""
    status = response.status
    message = f"{what} answered {status}"
    retry_after = retry_after_from_headers(response.headers)
    if status == 429:
        raise RetryableError(message, retry_after=retry_after, code="IntegrationThrottled")
    if status == 408:
        raise RetryableError(message, retry_after=retry_after, code="IntegrationTimeout")
    if status >= 500:
        raise RetryableError(message, retry_after=retry_after, code="IntegrationUnavailable")
    if status >= 400:
        raise NonRetryableError(message, code="IntegrationRejected")


def media_type(content_type: str | None) -> str:
    """The media type alone: "text/html; charset=utf-8" gives "text/html", none gives ""."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_type(content_type: str | None) -> bool:
    """application/json and the +json family (application/problem+json, …)."""
    media = media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def decode_body(body: bytes, content_type: str | None) -> str:
    """The body as text, in its declared charset (UTF-8 when none or unknown)."""
    charset = "utf-8"
    if content_type:
        message = Message()
        message["content-type"] = content_type
        declared = message.get_param("charset")
        if isinstance(declared, str):
            # An unknown charset: UTF-8 with replacements beats failing the task.
            with contextlib.suppress(LookupError):
                charset = codecs.lookup(declared).name
    return body.decode(charset, errors="replace")
