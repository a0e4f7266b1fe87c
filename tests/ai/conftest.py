"""Fixtures for the AI adapter tests: a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from app.adapters.ai import OpenAICompatibleClient, capability_models
from app.application.ai import ChatMessage, ChatRequest
from app.domain.enums import CapabilityType
from tests.fake_openai import FakeOpenAI

KEY = "sk-test-0123456789abcdefSECRET"
PROMPT = "Summarise the quarterly report of ACME-CONFIDENTIAL"
MODELS = capability_models(
    generation="gen-model", reasoning="reason-model", classification="class-model", vision="eye"
)

MakeClient = Callable[..., OpenAICompatibleClient]


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started FakeOpenAI, stopped after the test."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def make_client(fake_openai: FakeOpenAI) -> AsyncIterator[MakeClient]:
    """Clients pointed at the fake server (overrides as keyword arguments), closed after."""
    clients: list[OpenAICompatibleClient] = []

    def make(**overrides: Any) -> OpenAICompatibleClient:
        options: dict[str, Any] = {
            "base_url": fake_openai.base_url,
            "api_key": KEY,
            "models": MODELS,
            "embedding_model": "embed-model",
            "timeout": 10.0,
            "connect_timeout": 2.0,
            **overrides,
        }
        clients.append(OpenAICompatibleClient(**options))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


def chat_request(text: str = PROMPT, **fields: Any) -> ChatRequest:
    """A one-message chat (LLM_Generation unless `capability` says otherwise)."""
    fields.setdefault("capability", CapabilityType.LLM_GENERATION)
    return ChatRequest(messages=(ChatMessage("user", text),), **fields)
