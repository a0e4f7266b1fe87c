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

from collections.abc import Awaitable, Callable
from functools import partial
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
    generate = partial(generate_text, ai=ai, prices=prices, artifacts=artifacts, limits=limits)
    handlers: dict[CapabilityType, Callable[[TaskContext], Awaitable[dict[str, Any]]]] = {
        CapabilityType.LLM_GENERATION: partial(generate, capability=CapabilityType.LLM_GENERATION),
        CapabilityType.LLM_REASONING: partial(generate, capability=CapabilityType.LLM_REASONING),
        CapabilityType.LLM_CLASSIFICATION: partial(
            classify_text, ai=ai, prices=prices, limits=limits
        ),
        CapabilityType.VISION_OCR: partial(
            read_text, ai=ai, prices=prices, artifacts=artifacts, limits=limits
        ),
        CapabilityType.VISION_OBJECT_DETECTION: partial(
            detect_objects, ai=ai, prices=prices, limits=limits
        ),
        CapabilityType.EMBEDDING_SEARCH: partial(
            search_embeddings, ai=ai, prices=prices, limits=limits
        ),
        CapabilityType.RULE_ENGINE: partial(evaluate_rules, limits=limits),
        CapabilityType.EXTERNAL_INTEGRATION: partial(
            call_integration, integration=integration, artifacts=artifacts, limits=limits
        ),
    }
    for capability, handler in handlers.items():
        registry.register_capability(capability, handler, builtin=True)
    return registry
