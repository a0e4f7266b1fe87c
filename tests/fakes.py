"""Port-level fakes: stand-ins for the AI provider, the artifact store and the HTTP client.

They implement the ports (`app.application.ai.AiClient`,
`app.application.artifact_store.ArtifactStore`,
`app.application.capabilities.IntegrationClient`) and record what they were asked,
so a test can say both what a handler returned and what it sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.application.ai import (
    ChatRequest,
    ChatResult,
    EmbeddingRequest,
    EmbeddingResult,
)
from app.application.capabilities import IntegrationResponse

Reply = ChatResult | str | Exception
Responder = Callable[[ChatRequest], Reply]


def chat_result(
    text: str,
    *,
    model: str = "gpt-4o-mini",
    tokens_in: int | None = 100,
    tokens_out: int | None = 20,
    latency_ms: int = 30,
    finish_reason: str | None = "stop",
) -> ChatResult:
    """A provider answer with the usage a test wants to see charged."""
    return ChatResult(text, model, tokens_in, tokens_out, latency_ms, finish_reason)


class FakeAiClient:
    """An AiClient answering from a script, recording every request.

    `replies` are used in order and the last one repeats, so a single reply answers
    every call (each retry of a task, say); a reply may be text, a ChatResult, or an
    exception to raise. `respond` instead picks the reply from the request, for
    tasks that run concurrently. Embeddings come from `vectors` (text -> vector).
    """

    def __init__(
        self,
        replies: Sequence[Reply] = (),
        *,
        respond: Responder | None = None,
        vectors: Mapping[str, Sequence[float]] | None = None,
        embedding_model: str = "text-embedding-3-small",
    ) -> None:
        self._replies = list(replies)
        self._respond = respond
        self._vectors = dict(vectors or {})
        self._embedding_model = embedding_model
        self.chat_requests: list[ChatRequest] = []
        self.embed_requests: list[EmbeddingRequest] = []
        self.closed = False

    @property
    def calls(self) -> int:
        """Chat and embedding calls made so far."""
        return len(self.chat_requests) + len(self.embed_requests)

    async def chat(self, request: ChatRequest) -> ChatResult:
        self.chat_requests.append(request)
        if self._respond is not None:
            reply = self._respond(request)
        elif not self._replies:
            raise AssertionError("FakeAiClient.chat was called with no reply scripted")
        else:
            reply = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        if isinstance(reply, Exception):
            raise reply
        return chat_result(reply) if isinstance(reply, str) else reply

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        self.embed_requests.append(request)
        missing = [text for text in request.texts if text not in self._vectors]
        if missing:
            raise AssertionError(f"FakeAiClient has no vector for {missing!r}")
        return EmbeddingResult(
            vectors=tuple(tuple(self._vectors[text]) for text in request.texts),
            model=request.model or self._embedding_model,
            tokens_in=sum(len(text.split()) for text in request.texts),
            latency_ms=5,
        )

    async def aclose(self) -> None:
        self.closed = True


class FakeArtifactStore:
    """An ArtifactStore in memory, under fake:// URIs."""

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def owns(self, uri: str) -> bool:
        return uri.startswith("fake://")

    async def put(self, task_id: uuid.UUID, name: str, data: bytes) -> str:
        uri = f"fake://{task_id}/{name}"
        self.items[uri] = data
        return uri

    async def get(self, uri: str, *, task_id: uuid.UUID) -> bytes | None:
        return self.items.get(uri) if uri.startswith(f"fake://{task_id}/") else None

    async def delete_tasks(self, task_ids: Sequence[uuid.UUID]) -> int:
        prefixes = tuple(f"fake://{task_id}/" for task_id in task_ids)
        doomed = [uri for uri in self.items if uri.startswith(prefixes)]
        for uri in doomed:
            del self.items[uri]
        return len({uri.split("/")[2] for uri in doomed})


@dataclass(frozen=True)
class IntegrationCall:
    """One request the fake HTTP client was asked to make."""

    method: str
    url: str
    headers: Mapping[str, str]
    json_body: Any
    body: str | None
    timeout: float


def json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> IntegrationResponse:
    """An IntegrationResponse carrying `body` as JSON."""
    return IntegrationResponse(
        status=status,
        headers={"content-type": "application/json", **(headers or {})},
        body=json.dumps(body).encode(),
        latency_ms=3,
    )


@dataclass
class FakeIntegrationClient:
    """An IntegrationClient answering every request with `response`, recording the calls."""

    response: IntegrationResponse = field(
        default_factory=lambda: IntegrationResponse(200, {}, b"", 1)
    )
    calls: list[IntegrationCall] = field(default_factory=list)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        body: str | None = None,
        timeout: float,  # noqa: ASYNC109  (the port's signature)
    ) -> IntegrationResponse:
        self.calls.append(IntegrationCall(method, url, dict(headers), json_body, body, timeout))
        return self.response

    async def aclose(self) -> None:
        pass
