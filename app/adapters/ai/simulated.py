"""SimulatedAiClient: an offline AiClient, so `assistente dev` works with no provider.

The same request always gets the same answer, whichever instance or process
serves it: texts and vectors come from stable hashes (hashlib, not the salted
`hash()`). Its models are named "simulated:<model>", which the price table
charges nothing for. Latency and a failure rate are configurable so the worker's
timing and retries can be exercised.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import time
from collections.abc import Mapping

from app.application.ai import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from app.domain.enums import CapabilityType
from app.domain.errors import RetryableError
from app.domain.pricing import SIMULATED_PREFIX

DEFAULT_DIMENSIONS = 64
ECHO_CHARS = 80


class SimulatedAiClient:
    """AiClient that answers from hashes of its input, after `latency_ms`."""

    def __init__(
        self,
        *,
        models: Mapping[CapabilityType, str] | None = None,
        embedding_model: str = "embedding",
        latency_ms: float = 0.0,
        failure_rate: float = 0.0,
        seed: int | None = 0,
        dimensions: int = DEFAULT_DIMENSIONS,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        if latency_ms < 0 or dimensions < 1:
            raise ValueError("latency_ms must not be negative and dimensions must be positive")
        self._models = dict(models or {})
        self._embedding_model = embedding_model
        self._latency = latency_ms / 1000
        self._failure_rate = failure_rate
        # Seeded: a given seed fails the same calls, in order, in every run.
        self._random = random.Random(seed)
        self._dimensions = dimensions

    def __repr__(self) -> str:
        return (
            f"SimulatedAiClient(latency_ms={self._latency * 1000:g}, "
            f"failure_rate={self._failure_rate:g})"
        )

    async def chat(self, request: ChatRequest) -> ChatResult:
        """A deterministic answer: a digest of the conversation and an echo of its end."""
        started = time.perf_counter()
        await self._simulate_call()
        capability = request.capability
        model = _simulated(request.model or self._models.get(capability, capability.value))
        digest = _digest(json.dumps([_message_key(m) for m in request.messages]))
        last = next((m for m in reversed(request.messages) if m.role == "user"), None)
        echo = _echo(last.text if last else "")
        images = sum(len(m.images) for m in request.messages)
        if request.choices:  # a classification: one of the labels, chosen by the digest
            text = request.choices[int(digest, 16) % len(request.choices)]
        elif capability is CapabilityType.VISION_OBJECT_DETECTION:
            text = json.dumps({"objects": [_simulated_object(digest)], "simulated": True})
        elif request.json_output:
            answer: dict[str, object] = {"simulated": True, "digest": digest, "echo": echo}
            if images:
                answer["images"] = images
            text = json.dumps(answer)
        else:
            seen = f" ({images} image{'s' if images != 1 else ''})" if images else ""
            text = f"Simulated answer {digest}{seen} to: {echo}"
        finish_reason = "stop"
        if request.max_tokens is not None and _tokens(text) > request.max_tokens:
            text, finish_reason = text[: max(request.max_tokens, 0) * 4], "length"
        return ChatResult(
            text=text,
            model=model,
            tokens_in=sum(_tokens(m.text) for m in request.messages),
            tokens_out=_tokens(text),
            latency_ms=_elapsed_ms(started),
            finish_reason=finish_reason,
        )

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """Normalized vectors of hashed character trigrams: similar texts lie close."""
        started = time.perf_counter()
        await self._simulate_call()
        return EmbeddingResult(
            vectors=tuple(_trigram_vector(text, self._dimensions) for text in request.texts),
            model=_simulated(request.model or self._embedding_model),
            tokens_in=sum(_tokens(text) for text in request.texts),
            latency_ms=_elapsed_ms(started),
        )

    async def aclose(self) -> None:
        """Nothing to release."""

    async def _simulate_call(self) -> None:
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        if self._random.random() < self._failure_rate:
            raise RetryableError("simulated provider failure", code="ProviderUnavailable")


def _simulated_object(digest: str) -> dict[str, object]:
    """One detected object in the shape Vision_ObjectDetection asks for, from `digest`."""
    value = int(digest, 16)
    x, y = (value % 50) / 100, (value // 50 % 50) / 100
    return {"label": "object", "confidence": 0.5, "box": [x, y, 0.25, 0.25]}


def _simulated(model: str) -> str:
    return model if model.startswith(SIMULATED_PREFIX) else f"{SIMULATED_PREFIX}{model}"


def _message_key(message: ChatMessage) -> list[object]:
    images = [[i.url, i.data_base64, i.media_type] for i in message.images]
    return [message.role, message.text, images]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def _echo(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ECHO_CHARS else flat[: ECHO_CHARS - 1] + "…"


def _tokens(text: str) -> int:
    """About four characters a token, as OpenAI's rule of thumb has it."""
    return math.ceil(len(text) / 4)


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _trigram_vector(text: str, dimensions: int) -> tuple[float, ...]:
    vector = [0.0] * dimensions
    padded = f"  {' '.join(text.lower().split())} "
    for start in range(len(padded) - 2):
        hashed = hashlib.blake2b(padded[start : start + 3].encode(), digest_size=8).digest()
        number = int.from_bytes(hashed, "big")
        # A hashed sign keeps collisions from adding up into a false likeness.
        vector[number % dimensions] += 1.0 if number >> 63 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        return (1.0,) + (0.0,) * (dimensions - 1)
    return tuple(x / norm for x in vector)
