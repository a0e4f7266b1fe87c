"""Embedding_Search in batches: a real worker on Postgres, with a fake AI port.

Providers cap the inputs of one embeddings request, so the query and candidates go in
batches of EMBEDDING_BATCH_SIZE texts, scored as each batch arrives.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from app.application.ai import EmbeddingRequest, EmbeddingResult
from app.application.capabilities import CapabilityLimits
from app.application.capabilities.embedding import EMBEDDING_BATCH_SIZE, search_embeddings
from app.application.context import TaskCancelled
from app.domain.enums import CapabilityType
from app.domain.pricing import PriceTable
from tests.factories import bare_context
from tests.fakes import FakeAiClient
from tests.workers.capability_kit import Kit, result_of, run
from tests.workers.conftest import Enqueue, StartWorker

Conn = psycopg.AsyncConnection[Any]
QUERY = "refund policy"
CANDIDATES = [f"candidate {i}" for i in range(600)]
# Every candidate is orthogonal to the query but three: the last one, and the two either
# side of the first batch boundary (the query fills the first batch's first slot).
PLANTED = {599: [1.0, 0.0], 255: [0.8, 0.6], 254: [0.6, 0.8]}
VECTORS = {
    QUERY: [1.0, 0.0],
    **{text: PLANTED.get(i, [0.0, 1.0]) for i, text in enumerate(CANDIDATES)},
}


class ShortBatchAiClient(FakeAiClient):
    """A FakeAiClient whose `short_call`-th embeddings call drops its last vector."""

    def __init__(self, *, short_call: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._short_call = short_call

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        result = await super().embed(request)
        if len(self.embed_requests) != self._short_call:
            return result
        return EmbeddingResult(
            vectors=result.vectors[:-1],
            model=result.model,
            tokens_in=result.tokens_in,
            latency_ms=result.latency_ms,
        )


async def run_search(
    ai: FakeAiClient,
    enqueue: Enqueue,
    start_worker: StartWorker,
    conn: Conn,
    payload: dict[str, Any],
    *,
    until: str = "Succeeded",
    **fields: Any,
) -> uuid.UUID:
    """Run one Embedding_Search task on a worker until it is `until`."""
    capability = CapabilityType.EMBEDDING_SEARCH
    return await run(
        Kit(ai=ai), enqueue, start_worker, conn, capability, payload, until={until}, **fields
    )


async def test_many_candidates_are_embedded_in_batches_and_ranked_across_them(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    ai = FakeAiClient(vectors=VECTORS)
    payload = {"query": QUERY, "candidates": CANDIDATES, "topK": 3}
    task_id = await run_search(ai, enqueue, start_worker, conn, payload)

    sizes = [len(request.texts) for request in ai.embed_requests]
    assert EMBEDDING_BATCH_SIZE == 256
    assert sizes == [256, 256, 89]
    sent = [text for request in ai.embed_requests for text in request.texts]
    assert sent == [QUERY, *CANDIDATES]

    result = await result_of(conn, task_id)
    assert result["model"] == "text-embedding-3-small"
    assert [(r["index"], r["text"]) for r in result["results"]] == [
        (599, "candidate 599"),
        (255, "candidate 255"),
        (254, "candidate 254"),
    ]
    assert [r["score"] for r in result["results"]] == pytest.approx([1.0, 0.8, 0.6])

    cursor = await conn.execute(
        "SELECT status::text, model, tokens_in, tokens_out, cost, latency_ms "
        "FROM task_attempts_current WHERE task_id = %s",
        (task_id,),
    )
    # Two words a text: 512 + 512 + 178 tokens in; 0.02 USD per million; 5 ms a call.
    assert await cursor.fetchall() == [
        ("Succeeded", "text-embedding-3-small", 1202, None, Decimal("0.000024"), 15)
    ]


async def test_a_batch_answered_with_too_few_vectors_fails_the_task_and_is_charged(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    ai = ShortBatchAiClient(short_call=2, vectors=VECTORS)
    payload = {"query": QUERY, "candidates": CANDIDATES}
    task_id = await run_search(
        ai, enqueue, start_worker, conn, payload, until="DeadLetter", max_attempts=1
    )

    assert len(ai.embed_requests) == 2  # no call after the bad batch
    cursor = await conn.execute(
        "SELECT a.status::text, a.error_code, a.tokens_in, t.last_error "
        "FROM task_attempts_current a JOIN tasks t ON t.id = a.task_id WHERE a.task_id = %s",
        (task_id,),
    )
    assert await cursor.fetchall() == [
        (
            "Failed",
            "BadModelOutput",
            1024,
            "the provider returned 255 vectors for 256 texts (batch 2 of 3)",
        )
    ]


async def test_a_cancel_stops_the_search_before_the_next_batch() -> None:
    ctx = bare_context({"query": QUERY, "candidates": CANDIDATES})

    class CancellingAiClient(FakeAiClient):
        async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
            ctx.mark_cancelled()  # as the worker does when a cancel arrives mid-call
            return await super().embed(request)

    ai = CancellingAiClient(vectors=VECTORS)
    with pytest.raises(TaskCancelled):
        await search_embeddings(ctx, ai=ai, prices=PriceTable.defaults(), limits=CapabilityLimits())
    assert len(ai.embed_requests) == 1
    assert (ctx.usage.calls, ctx.usage.tokens_in) == (1, 512)
