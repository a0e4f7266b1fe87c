"""AI provider adapters: any OpenAI-compatible HTTP API, and an offline simulation."""

from __future__ import annotations

from app.adapters.ai.openai_compatible import OpenAICompatibleClient
from app.adapters.ai.simulated import SimulatedAiClient
from app.domain.enums import CapabilityType

__all__ = ["OpenAICompatibleClient", "SimulatedAiClient", "capability_models"]


def capability_models(
    *, generation: str, reasoning: str, classification: str, vision: str
) -> dict[CapabilityType, str]:
    """The default chat model of each capability (AI_MODEL_* settings), as adapters take them."""
    return {
        CapabilityType.LLM_GENERATION: generation,
        CapabilityType.LLM_REASONING: reasoning,
        CapabilityType.LLM_CLASSIFICATION: classification,
        CapabilityType.VISION_OCR: vision,
        CapabilityType.VISION_OBJECT_DETECTION: vision,
    }
