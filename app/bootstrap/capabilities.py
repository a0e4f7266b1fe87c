"""The composition root's part for AI work: the provider, prices, and the built-in
capability handlers with the clients they use."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from app.adapters.ai import OpenAICompatibleClient, SimulatedAiClient, capability_models
from app.adapters.http.integration_client import HttpxIntegrationClient
from app.application.ai import AiClient
from app.application.artifact_store import ArtifactStore
from app.application.capabilities import CapabilityLimits, capability_handlers
from app.application.handlers import HandlerRegistry
from app.config import AiProvider, ConfigError, Settings
from app.domain.pricing import SIMULATED_PREFIX, PriceTable, prices_from_mapping

Closer = Callable[[], Awaitable[None]]


def build_ai_client(settings: Settings) -> AiClient:
    """The AI provider: simulated (offline, deterministic) or an OpenAI-compatible API."""
    models = capability_models(
        generation=settings.ai_model_generation,
        reasoning=settings.ai_model_reasoning,
        classification=settings.ai_model_classification,
        vision=settings.ai_model_vision,
    )
    if settings.ai is AiProvider.SIMULATED:
        return SimulatedAiClient(
            models=models,
            embedding_model=settings.ai_model_embedding,
            latency_ms=settings.simulated_ai_latency_ms,
            failure_rate=settings.simulated_ai_failure_rate,
        )
    if settings.ai_api_key is None and urlsplit(settings.ai_base_url).hostname == "api.openai.com":
        # OpenAI refuses every call without a key: say so when the worker starts, not
        # in every task's error. (Self-hosted servers such as Ollama may need none.)
        raise ConfigError(
            "AI_API_KEY is required for AI_BASE_URL https://api.openai.com/v1"
            " (or set AI_PROVIDER=simulated, or AI_BASE_URL to your own server)"
        )
    return OpenAICompatibleClient(
        base_url=settings.ai_base_url,
        api_key=settings.ai_api_key.get_secret_value() if settings.ai_api_key else None,
        auth_header=settings.ai_auth_header,
        query_params=settings.ai_query_params,
        models=models,
        embedding_model=settings.ai_model_embedding,
        timeout=settings.ai_timeout_seconds,
        connect_timeout=settings.ai_connect_timeout_seconds,
    )


def load_prices(settings: Settings) -> PriceTable:
    """The built-in price table, with AI_PRICING_FILE's prices over it; the simulated
    provider's models cost nothing (only when it is the provider: a real one answering
    with such a name is not free)."""
    table = PriceTable.defaults()
    if settings.ai is AiProvider.SIMULATED:
        table = table.with_free_prefix(SIMULATED_PREFIX)
    if settings.ai_pricing_file is None:
        return table
    try:
        data = json.loads(settings.ai_pricing_file.read_text(encoding="utf-8"))
        return table.merged(prices_from_mapping(data))
    except (OSError, ValueError) as error:
        raise ConfigError(f"AI_PRICING_FILE {settings.ai_pricing_file}: {error}") from error


def build_capability_handlers(
    settings: Settings, artifacts: ArtifactStore
) -> tuple[HandlerRegistry, list[Closer]]:
    """The built-in handler of every CapabilityType, and what closes their clients."""
    ai = build_ai_client(settings)
    integration = HttpxIntegrationClient(
        allowed_hosts=settings.allowed_integration_hosts,
        timeout=settings.integration_timeout_seconds,
        max_response_bytes=settings.integration_max_response_bytes,
    )
    limits = CapabilityLimits(
        inline_max_bytes=settings.artifact_inline_max_bytes,
        vision_max_image_bytes=settings.vision_max_image_bytes,
        vision_image_urls=settings.vision_image_urls,
        allowed_hosts=settings.allowed_integration_hosts,
        integration_timeout_seconds=settings.integration_timeout_seconds,
        integration_max_response_bytes=settings.integration_max_response_bytes,
    )
    registry = capability_handlers(
        ai=ai,
        prices=load_prices(settings),
        integration=integration,
        artifacts=artifacts,
        limits=limits,
    )
    return registry, [ai.aclose, integration.aclose]
