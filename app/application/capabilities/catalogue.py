"""The payload each built-in capability accepts, as a model and a worked example.

The models are the ones the handlers parse with (app.application.capabilities.payloads),
so the OpenAPI document, the API's check at the door and the handler agree on one
schema. Every example validates against its model (tests/unit/test_capability_catalogue.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from app.application.capabilities.payloads import (
    ClassificationPayload,
    EmbeddingPayload,
    GenerationPayload,
    IntegrationPayload,
    RulesPayload,
    VisionPayload,
)
from app.domain.enums import CapabilityType

PAYLOAD_MODELS: Mapping[CapabilityType, type[BaseModel]] = MappingProxyType(
    {
        CapabilityType.LLM_GENERATION: GenerationPayload,
        CapabilityType.LLM_REASONING: GenerationPayload,
        CapabilityType.LLM_CLASSIFICATION: ClassificationPayload,
        CapabilityType.VISION_OCR: VisionPayload,
        CapabilityType.VISION_OBJECT_DETECTION: VisionPayload,
        CapabilityType.EMBEDDING_SEARCH: EmbeddingPayload,
        CapabilityType.RULE_ENGINE: RulesPayload,
        CapabilityType.EXTERNAL_INTEGRATION: IntegrationPayload,
    }
)

PAYLOAD_EXAMPLES: Mapping[CapabilityType, dict[str, Any]] = MappingProxyType(
    {
        CapabilityType.LLM_GENERATION: {
            "prompt": "Summarise this ticket in two sentences.",
            "context": "Customer reports the export button does nothing since Monday.",
            "maxTokens": 200,
            "temperature": 0.2,
        },
        CapabilityType.LLM_REASONING: {
            "prompt": "Which of these invoices is most likely a duplicate, and why?",
            "context": [{"id": "inv-1", "total": 120.5}, {"id": "inv-2", "total": 120.5}],
            "system": "Answer in one short paragraph.",
        },
        CapabilityType.LLM_CLASSIFICATION: {
            "text": "I was charged twice for my subscription this month.",
            "labels": ["billing", "technical", "account", "other"],
            "instructions": "Pick the team that should handle the message.",
        },
        CapabilityType.VISION_OCR: {
            "image": {"url": "https://example.com/scans/receipt.png"},
            "prompt": "Read the total and the date.",
        },
        CapabilityType.VISION_OBJECT_DETECTION: {
            "image": {"base64": "iVBORw0KGgo=", "mediaType": "image/png"},
            "prompt": "Find every vehicle.",
        },
        CapabilityType.EMBEDDING_SEARCH: {
            "query": "reset my password",
            "candidates": [
                "How to change your password",
                "Billing and invoices",
                "Closing your account",
            ],
            "topK": 2,
        },
        CapabilityType.RULE_ENGINE: {
            "rules": [
                {
                    "name": "large-order",
                    "when": {"field": "order.total", "op": "gt", "value": 1000},
                    "then": {"review": True},
                }
            ],
            "data": {"order": {"total": 1250, "currency": "EUR"}},
            "mode": "first",
        },
        CapabilityType.EXTERNAL_INTEGRATION: {
            "request": {
                "method": "POST",
                "url": "https://api.example.com/v1/tickets",
                "headers": {"X-Source": "assistente"},
                "json": {"subject": "Export button broken", "priority": "high"},
            }
        },
    }
)
