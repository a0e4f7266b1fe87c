"""Charging a model call to the running attempt: tokens, latency and cost.

The cost comes from the price table; a model the table does not know costs None
(unknown), never a guess, and is named in one warning per model per process so an
operator can add its price without the log filling up with the same line.
"""

from __future__ import annotations

import threading

import structlog

from app.application.ai import ChatResult, EmbeddingResult
from app.application.context import TaskContext
from app.domain.pricing import PriceTable

_log: structlog.stdlib.BoundLogger = structlog.get_logger("app.capabilities")
_warned_models: set[str] = set()
_warned_lock = threading.Lock()


def charge(
    ctx: TaskContext,
    result: ChatResult | EmbeddingResult,
    prices: PriceTable,
    log: structlog.stdlib.BoundLogger | None = None,
) -> float | None:
    """Add one provider call to the attempt's usage; return its cost in USD (None: unknown)."""
    # Embeddings have no output tokens: NULL on the attempt row, not a made-up zero.
    tokens_out = result.tokens_out if isinstance(result, ChatResult) else None
    cost = call_cost(result, prices, log)
    ctx.add_usage(
        model=result.model,
        tokens_in=result.tokens_in,
        tokens_out=tokens_out,
        cost=cost,
        latency_ms=result.latency_ms,
    )
    return cost


def call_cost(
    result: ChatResult | EmbeddingResult,
    prices: PriceTable,
    log: structlog.stdlib.BoundLogger | None = None,
) -> float | None:
    """USD for one call, or None when its model has no price or its tokens were not reported."""
    if not prices.knows(result.model):
        _warn_once(result.model, log or _log)
        return None
    tokens_out = result.tokens_out if isinstance(result, ChatResult) else 0
    # A provider that does not report tokens would make the price look like zero.
    if result.tokens_in is None or tokens_out is None:
        return None
    cost = prices.cost(result.model, result.tokens_in, tokens_out)
    return None if cost is None else float(cost)


def _warn_once(model: str, log: structlog.stdlib.BoundLogger) -> None:
    key = model.lower()
    with _warned_lock:
        if key in _warned_models:
            return
        _warned_models.add(key)
    log.warning("unknown_model_price", model=model)
