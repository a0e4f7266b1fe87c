"""OpenAICompatibleClient: chat completions and embeddings over any OpenAI-compatible API.

OpenAI, Azure OpenAI (auth header "api-key" and an "api-version" query parameter),
vLLM, Ollama, LiteLLM and the like. Failures become the engine's errors (see
`app.application.ai`); messages name the status and the provider's reason, never
the key or the request's text. Nothing here logs bodies or headers.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from app.application.ai import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from app.domain.enums import CapabilityType
from app.domain.errors import NonRetryableError, RetryableError, TaskError
from app.domain.retry import retry_after_from_headers

log = structlog.get_logger("app.ai")

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# An error body is only read for its message.
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_REASON_CHARS = 300
# Parsing a large answer (embeddings) off the event loop keeps other tasks moving.
THREAD_PARSE_BYTES = 1024 * 1024
RETRYABLE_STATUSES = frozenset({408, 409})
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+")
_PROVIDER_KEY = re.compile(r"\bsk-[A-Za-z0-9_*-]{8,}")


class OpenAICompatibleClient:
    """AiClient over HTTP; one connection pool per instance, opened on first use."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        auth_header: str = "Authorization",
        query_params: str = "",
        models: Mapping[CapabilityType, str],
        embedding_model: str,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = (api_key or "").strip() or None
        # A stray newline in a key would make the HTTP library quote the header, key and all.
        if key is not None and not _HEADER_VALUE.fullmatch(key):
            raise ValueError("the AI API key holds characters an HTTP header cannot carry")
        if not _HEADER_NAME.fullmatch(auth_header):
            raise ValueError(f"{auth_header!r} is not an HTTP header name")
        self._base_url = base_url.rstrip("/")
        self._api_key = key
        self._auth_header = auth_header
        self._params = httpx.QueryParams(query_params.lstrip("?"))
        self._models = dict(models)
        self._embedding_model = embedding_model
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        # A whole-call deadline: httpx's read timeout is per read, so a trickle never ends.
        self._deadline = timeout + connect_timeout
        self._max_response_bytes = max_response_bytes
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return (
            f"OpenAICompatibleClient(base_url={self._base_url!r}, "
            f"auth_header={self._auth_header!r}, api_key={key})"
        )

    async def chat(self, request: ChatRequest) -> ChatResult:
        """POST /chat/completions; the first choice's text, tokens and finish reason."""
        model = request.model or self._models.get(request.capability)
        if not model:
            raise NonRetryableError(
                f"no model is configured for {request.capability}", code="AiModelNotConfigured"
            )
        payload: dict[str, Any] = {
            "model": model,
            "messages": [_message_json(message) for message in request.messages],
        }
        if request.max_tokens is not None:
            # o-series reasoning models refuse max_tokens with a 400; they take this one.
            reasoning = request.capability is CapabilityType.LLM_REASONING
            payload["max_completion_tokens" if reasoning else "max_tokens"] = request.max_tokens
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.json_output:
            payload["response_format"] = {"type": "json_object"}
        body, latency_ms = await self._post("chat/completions", payload, model)
        text, finish_reason = _chat_text(body)
        usage = _usage(body)
        return ChatResult(
            text=text,
            model=_answered_model(body, model),
            tokens_in=_token_count(usage, "prompt_tokens"),
            tokens_out=_token_count(usage, "completion_tokens"),
            latency_ms=latency_ms,
            finish_reason=finish_reason,
        )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """POST /embeddings; vectors in the order of the request's texts."""
        model = request.model or self._embedding_model
        if not request.texts:
            return EmbeddingResult(vectors=(), model=model, tokens_in=0, latency_ms=0)
        payload = {"model": model, "input": list(request.texts)}
        body, latency_ms = await self._post("embeddings", payload, model)
        return EmbeddingResult(
            vectors=_vectors(body, len(request.texts)),
            model=_answered_model(body, model),
            tokens_in=_token_count(_usage(body), "prompt_tokens"),
            latency_ms=latency_ms,
        )

    async def aclose(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def _post(self, path: str, payload: dict[str, Any], model: str) -> tuple[Any, int]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._deadline):
                status, headers, raw = await self._send(path, payload)
        except (httpx.TimeoutException, TimeoutError) as error:
            raise RetryableError(
                f"the AI provider did not answer in time ({type(error).__name__})",
                code="ProviderTimeout",
            ) from error
        except httpx.TransportError as error:
            # The class name only: a transport error's text may quote what was being sent.
            raise RetryableError(
                f"could not reach the AI provider ({type(error).__name__})",
                code="ProviderUnreachable",
            ) from error
        except httpx.HTTPError as error:
            raise NonRetryableError(
                f"the AI provider's answer could not be read ({type(error).__name__})",
                code="ProviderBadResponse",
            ) from error
        latency_ms = round((time.perf_counter() - started) * 1000)
        log.debug("ai_call", path=path, model=model, status=status, latency_ms=latency_ms)
        if raw is None:
            raise _malformed(f"larger than {self._max_response_bytes} bytes")
        if not 200 <= status < 300:
            raise self._status_error(status, headers, raw)
        try:
            if len(raw) > THREAD_PARSE_BYTES:
                return await asyncio.to_thread(json.loads, raw), latency_ms
            return json.loads(raw), latency_ms
        except (ValueError, RecursionError):
            raise _malformed("not JSON") from None

    async def _send(
        self, path: str, payload: dict[str, Any]
    ) -> tuple[int, httpx.Headers, bytes | None]:
        """Status, headers and body (None when the answer is larger than allowed)."""
        headers = {"Accept": "application/json"}
        if self._api_key is not None:
            bearer = self._auth_header.lower() == "authorization"
            headers[self._auth_header] = f"Bearer {self._api_key}" if bearer else self._api_key
        http = self._client()
        url = f"{self._base_url}/{path}"
        async with http.stream("POST", url, json=payload, headers=headers) as response:
            limit = self._max_response_bytes if response.is_success else MAX_ERROR_BODY_BYTES
            return response.status_code, response.headers, await _read(response, limit)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                params=self._params,
                timeout=self._timeout,
                follow_redirects=False,
                transport=self._transport,
                headers={"User-Agent": "assistente-tasks"},
            )
        return self._http

    def _status_error(self, status: int, headers: httpx.Headers, raw: bytes) -> TaskError:
        error = _error_object(raw)
        # Scrubbed before it is cut short: a key cut in two would no longer match.
        reason = _shorten(self._scrub(_reason(error) or httpx.codes.get_reason_phrase(status)))
        message = f"the AI provider answered HTTP {status}: {reason}"
        if status == 429 and "insufficient_quota" in (error.get("code"), error.get("type")):
            # Out of credit: no wait fixes that, an operator does.
            return NonRetryableError(message, code="ProviderQuotaExceeded")
        if status == 429:
            return RetryableError(
                message, retry_after=retry_after_from_headers(headers), code="ProviderRateLimited"
            )
        if status in RETRYABLE_STATUSES or status >= 500:
            return RetryableError(
                message, retry_after=retry_after_from_headers(headers), code="ProviderUnavailable"
            )
        if 400 <= status < 500:
            return NonRetryableError(message, code="ProviderRejected")
        # 1xx/3xx: redirects are not followed, so the base URL is not the API itself.
        return _malformed(f"HTTP {status} (redirects are not followed)")

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _PROVIDER_KEY.sub("sk-***", text)


async def _read(response: httpx.Response, limit: int) -> bytes | None:
    """The body up to `limit` bytes: None past it on success, cut short on an error."""
    declared = response.headers.get("Content-Length", "")
    if response.is_success and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()  # one growing buffer: a list of chunks joined at the end needs twice
    async for chunk in response.aiter_bytes():
        if len(body) + len(chunk) > limit:
            if not response.is_success:
                body += chunk[: limit - len(body)]
                break
            return None
        body += chunk
    return bytes(body)


def _message_json(message: ChatMessage) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.text}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.text}] if message.text else []
    for image in message.images:
        url = image.url
        if url is None:
            url = f"data:{image.media_type};base64,{image.data_base64}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"role": message.role, "content": parts}


# A 2xx in the wrong shape is not retried (as the port documents): the provider has
# answered, and probably billed; the causes seen in practice (a base URL that is not an
# OpenAI-compatible API, a content filter's empty answer) give the same answer again.
# A body cut off in transit is another matter: httpx raises a transport error, retried.
def _malformed(what: str) -> NonRetryableError:
    return NonRetryableError(
        f"the AI provider's answer is not the documented shape: {what}",
        code="ProviderBadResponse",
    )


def _chat_text(body: Any) -> tuple[str, str | None]:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _malformed("no choices")
    finish_reason = choices[0].get("finish_reason")
    finish_reason = finish_reason if isinstance(finish_reason, str) else None
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        refused = isinstance(message, dict) and bool(message.get("refusal"))
        why = "the model refused" if refused else f"finish_reason={finish_reason}"
        raise _malformed(f"no text content ({why})")
    return content, finish_reason


def _vectors(body: Any, expected: int) -> tuple[tuple[float, ...], ...]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise _malformed("no data")
    if len(data) != expected:
        raise _malformed(f"{len(data)} vectors for {expected} texts")
    by_index: dict[int, tuple[float, ...]] = {}
    for item in data:
        index = item.get("index") if isinstance(item, dict) else None
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < expected or index in by_index:
            raise _malformed("embedding indexes are not 0..n-1")
        if not isinstance(vector, list) or not all(type(x) in (float, int) for x in vector):
            raise _malformed("an embedding is not a list of numbers")
        by_index[index] = tuple(float(x) for x in vector)
    return tuple(by_index[index] for index in range(expected))


def _usage(body: Any) -> dict[str, Any]:
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage if isinstance(usage, dict) else {}


def _token_count(usage: dict[str, Any], name: str) -> int | None:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _answered_model(body: Any, requested: str) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else requested


def _error_object(raw: bytes) -> dict[str, Any]:
    """The provider's `error` object ({"message", "type", "code"}), or the body itself."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        # Plain text says something; an HTML error page from a proxy says nothing useful.
        text = raw.decode("utf-8", "replace").strip()
        return {"message": text} if text and not text.startswith("<") else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    if isinstance(error, str):
        return {"message": error}
    return error if isinstance(error, dict) else {}


def _reason(error: dict[str, Any]) -> str:
    message = error.get("message") or error.get("detail") or ""
    return " ".join(str(message).split())


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
