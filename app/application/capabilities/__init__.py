"""Built-in handlers, one per CapabilityType, for tasks whose type has no handler of its own.

    limits = CapabilityLimits(allowed_hosts=frozenset({"api.example.com"}))
    registry = capability_handlers(
        ai=ai_client, prices=PriceTable.defaults(), integration=http_client,
        artifacts=artifact_store, limits=limits,
    )

A task with `type: "summarise"` and `capabilityType: "LLM_Generation"` then runs the
generation handler unless a handler for "summarise" is registered. Each handler
checks its payload before calling anything (a bad payload dead-letters at once,
naming the field), charges every model call to the attempt, and stores large
outputs in the artifact store.
"""

from __future__ import annotations

from typing import Any

from app.application.ai import AiClient
from app.application.artifact_store import ArtifactStore
from app.application.capabilities.classification import classify_text
from app.application.capabilities.embedding import search_embeddings
from app.application.capabilities.generation import generate_text
from app.application.capabilities.integration import (
    IntegrationClient,
    IntegrationResponse,
    call_integration,
)
from app.application.capabilities.limits import CapabilityLimits
from app.application.capabilities.rules import evaluate_rules
from app.application.capabilities.vision import detect_objects, read_text
from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.domain.enums import CapabilityType
from app.domain.pricing import PriceTable

__all__ = [
    "CapabilityLimits",
    "IntegrationClient",
    "IntegrationResponse",
    "capability_handlers",
]


def capability_handlers(
    *,
    ai: AiClient,
    prices: PriceTable,
    integration: IntegrationClient,
    artifacts: ArtifactStore,
    limits: CapabilityLimits,
) -> HandlerRegistry:
    """A registry with one async handler per CapabilityType, bound to these ports."""
    registry = HandlerRegistry()

    async def llm_generation(ctx: TaskContext) -> dict[str, Any]:
        return await generate_text(
            ctx,
            capability=CapabilityType.LLM_GENERATION,
            ai=ai,
            prices=prices,
            artifacts=artifacts,
            limits=limits,
        )

    async def llm_reasoning(ctx: TaskContext) -> dict[str, Any]:
        return await generate_text(
            ctx,
            capability=CapabilityType.LLM_REASONING,
            ai=ai,
            prices=prices,
            artifacts=artifacts,
            limits=limits,
        )

    async def llm_classification(ctx: TaskContext) -> dict[str, Any]:
        return await classify_text(ctx, ai=ai, prices=prices, limits=limits)

    async def vision_ocr(ctx: TaskContext) -> dict[str, Any]:
        return await read_text(ctx, ai=ai, prices=prices, artifacts=artifacts, limits=limits)

    async def vision_object_detection(ctx: TaskContext) -> dict[str, Any]:
        return await detect_objects(ctx, ai=ai, prices=prices, limits=limits)

    async def embedding_search(ctx: TaskContext) -> dict[str, Any]:
        return await search_embeddings(ctx, ai=ai, prices=prices, limits=limits)

    async def rule_engine(ctx: TaskContext) -> dict[str, Any]:
        return await evaluate_rules(ctx, limits=limits)

    async def external_integration(ctx: TaskContext) -> dict[str, Any]:
        return await call_integration(
            ctx, integration=integration, artifacts=artifacts, limits=limits
        )

    handlers = {
        CapabilityType.LLM_GENERATION: llm_generation,
        CapabilityType.LLM_REASONING: llm_reasoning,
        CapabilityType.LLM_CLASSIFICATION: llm_classification,
        CapabilityType.VISION_OCR: vision_ocr,
        CapabilityType.VISION_OBJECT_DETECTION: vision_object_detection,
        CapabilityType.EMBEDDING_SEARCH: embedding_search,
        CapabilityType.RULE_ENGINE: rule_engine,
        CapabilityType.EXTERNAL_INTEGRATION: external_integration,
    }
    for capability, handler in handlers.items():
        registry.register_capability(capability, handler)
    return registry
