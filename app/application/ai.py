"""The AI provider port: chat completions and embeddings, whatever serves them.

Adapters (`app.adapters.ai`) speak an OpenAI-compatible HTTP API or simulate one.
Their failures are the engine's own errors, so the worker's retry rules apply
unchanged:

- `RetryableError` for what may pass on its own: 429 (its `retry_after` taken from
  the Retry-After header), 5xx, timeouts, connection errors;
- `NonRetryableError` for what no retry fixes: 400, 401, 403, 404, 422, and an
  answer that is not the documented shape.

Error messages name the provider's status and reason, never the request's text or
the API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from app.domain.enums import CapabilityType

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image for a vision message: a URL the provider fetches, or inline base64."""

    url: str | None = None
    data_base64: str | None = None
    media_type: str = "image/png"

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data_base64 is None):
            raise ValueError("an image has either a url or base64 data")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation; `images` only on user messages."""

    role: Role
    text: str
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat completion. `model` None means the adapter's default for `capability`."""

    capability: CapabilityType
    messages: tuple[ChatMessage, ...]
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    # Ask the provider for a JSON object (OpenAI's response_format json_object).
    json_output: bool = False
    # The answers allowed (classification labels). The prompt already lists them for a
    # real model; the simulated provider answers one of them.
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The provider's answer and what it cost in tokens and time."""

    text: str
    model: str
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: int
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """Vectors for `texts`, in order. `model` None means the adapter's default."""

    texts: tuple[str, ...]
    model: str | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    """One vector per input text, in the order of the request."""

    vectors: tuple[tuple[float, ...], ...]
    model: str
    tokens_in: int | None
    latency_ms: int


class AiClient(Protocol):
    """A provider of chat completions and embeddings."""

    async def chat(self, request: ChatRequest) -> ChatResult:
        """One chat completion; raises RetryableError / NonRetryableError on failure."""
        ...

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """Embeddings for every text; raises RetryableError / NonRetryableError on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections (the worker calls it once, at shutdown)."""
        ...
