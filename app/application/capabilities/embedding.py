"""Embedding_Search: rank candidate texts by cosine similarity to a query."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from app.application.ai import AiClient, EmbeddingRequest, EmbeddingResult
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import EmbeddingPayload, parse_payload
from app.application.capabilities.usage import charge
from app.application.context import TaskContext
from app.domain.errors import RetryableError
from app.domain.pricing import PriceTable

# Texts per embeddings request, the query included. Providers cap the inputs of one
# request (OpenAI: 2048), and 256 vectors even of 3072 dimensions stay far below the
# adapter's response cap; only one batch of vectors is held at a time.
EMBEDDING_BATCH_SIZE = 256


async def search_embeddings(
    ctx: TaskContext, *, ai: AiClient, prices: PriceTable, limits: CapabilityLimits
) -> dict[str, Any]:
    """Embed the query and the candidates in batches, scoring each batch as it arrives.

    The query goes first in the first batch. Every call is charged to the attempt.
    Result {"model", "results": [{"index", "text", "score"}]}, best first, cut to topK.
    """
    payload = parse_payload(EmbeddingPayload, ctx.payload, limits=limits)
    texts = (payload.query, *payload.candidates)
    batches = math.ceil(len(texts) / EMBEDDING_BATCH_SIZE)
    ctx.update(state="calling model", progress=0)
    first = await embed_batch(
        ctx, ai, prices, texts[:EMBEDDING_BATCH_SIZE], payload.model, (1, batches)
    )
    query, model = first.vectors[0], first.model
    # A batch of long vectors takes pure Python a noticeable while: off the event loop.
    scores = await asyncio.to_thread(similarities, query, first.vectors[1:])
    del first  # from here on only the batch being scored is held
    for number in range(2, batches + 1):
        ctx.update(progress=100 * (number - 1) // batches)
        ctx.raise_if_cancelled()
        start = (number - 1) * EMBEDDING_BATCH_SIZE
        batch = texts[start : start + EMBEDDING_BATCH_SIZE]
        scores += await score_batch(ctx, ai, prices, batch, payload.model, query, (number, batches))
    ctx.update(progress=100)
    ranked = rank(scores, payload.top_k)
    return {
        "model": model,
        "results": [
            {"index": i, "text": payload.candidates[i], "score": scores[i]} for i in ranked
        ],
    }


async def score_batch(
    ctx: TaskContext,
    ai: AiClient,
    prices: PriceTable,
    texts: tuple[str, ...],
    model: str | None,
    query: Sequence[float],
    position: tuple[int, int],
) -> list[float]:
    """Embed `texts` and return their similarities to `query` (the vectors go on return)."""
    result = await embed_batch(ctx, ai, prices, texts, model, position)
    return await asyncio.to_thread(similarities, query, result.vectors)


async def embed_batch(
    ctx: TaskContext,
    ai: AiClient,
    prices: PriceTable,
    texts: tuple[str, ...],
    model: str | None,
    position: tuple[int, int],
) -> EmbeddingResult:
    """One embeddings call, charged to the attempt, with a vector for every text.

    `position` is (this batch's number, how many batches), for the error message.
    """
    result = await ai.embed(EmbeddingRequest(texts=texts, model=model))
    # Charged before the check: a call that answered badly was still billed.
    charge(ctx, result, prices, ctx.log)
    if len(result.vectors) != len(texts):
        number, batches = position
        raise RetryableError(
            f"the provider returned {len(result.vectors)} vectors for {len(texts)} texts "
            f"(batch {number} of {batches})",
            code="BadModelOutput",
        )
    return result


def similarities(query: Sequence[float], vectors: Sequence[Sequence[float]]) -> list[float]:
    """The cosine similarity of each vector to `query`."""
    return [cosine_similarity(query, vector) for vector in vectors]


def rank(scores: Sequence[float], top_k: int | None = None) -> list[int]:
    """Indexes by score, best first; ties keep their order, so a ranking is repeatable."""
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return ranked if top_k is None else ranked[:top_k]


def cosine_similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine of the angle between `a` and `b`; 0.0 when either has no length."""
    if len(a) != len(b):
        raise RetryableError(
            f"the provider returned vectors of {len(a)} and {len(b)} dimensions",
            code="BadModelOutput",
        )
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0.0 or not math.isfinite(norm):
        return 0.0
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm
