"""Embedding_Search: rank candidate texts by cosine similarity to a query."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from app.application.ai import AiClient, EmbeddingRequest
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.payloads import EmbeddingPayload, parse_payload
from app.application.capabilities.usage import charge
from app.application.context import TaskContext
from app.domain.errors import RetryableError
from app.domain.pricing import PriceTable


async def search_embeddings(
    ctx: TaskContext, *, ai: AiClient, prices: PriceTable, limits: CapabilityLimits
) -> dict[str, Any]:
    """One embedding call for the query and every candidate.

    Result {"model", "results": [{"index", "text", "score"}]}, best first, cut to topK.
    """
    payload = parse_payload(EmbeddingPayload, ctx.payload, limits=limits)
    ctx.update(state="calling model")
    result = await ai.embed(
        EmbeddingRequest(texts=(payload.query, *payload.candidates), model=payload.model)
    )
    charge(ctx, result, prices, ctx.log)
    if len(result.vectors) != len(payload.candidates) + 1:
        raise RetryableError(
            f"the provider returned {len(result.vectors)} vectors for "
            f"{len(payload.candidates) + 1} texts",
            code="BadModelOutput",
        )
    # Thousands of long vectors take pure Python a noticeable while: off the event loop.
    scores = await asyncio.to_thread(similarities, result.vectors[0], result.vectors[1:])
    ranked = rank(scores, payload.top_k)
    return {
        "model": result.model,
        "results": [
            {"index": i, "text": payload.candidates[i], "score": scores[i]} for i in ranked
        ],
    }


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
