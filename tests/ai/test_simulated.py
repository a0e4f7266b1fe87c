"""SimulatedAiClient: deterministic, offline, free, with latency and failures on demand."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from app.adapters.ai import SimulatedAiClient, capability_models
from app.application.ai import ChatMessage, ChatRequest, EmbeddingRequest, ImageInput
from app.bootstrap import load_prices
from app.config import load_settings
from app.domain.enums import CapabilityType
from app.domain.errors import RetryableError

MODELS = capability_models(
    generation="gpt-4o-mini", reasoning="o3-mini", classification="gpt-4o-mini", vision="gpt-4o"
)


def chat(text: str = "Write a haiku about queues", **fields: Any) -> ChatRequest:
    return ChatRequest(
        capability=CapabilityType.LLM_GENERATION,
        messages=(ChatMessage("system", "Be poetic."), ChatMessage("user", text)),
        **fields,
    )


def cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_the_same_request_gets_the_same_answer_from_any_instance() -> None:
    first = await SimulatedAiClient(models=MODELS).chat(chat())
    second = await SimulatedAiClient(models=MODELS, seed=99).chat(chat())

    assert first.text == second.text
    assert (first.tokens_in, first.tokens_out) == (second.tokens_in, second.tokens_out)
    assert "Write a haiku about queues" in first.text


async def test_different_requests_get_different_answers() -> None:
    client = SimulatedAiClient(models=MODELS)

    first = await client.chat(chat("one prompt"))
    second = await client.chat(chat("another prompt"))

    assert first.text != second.text


async def test_models_are_named_simulated() -> None:
    client = SimulatedAiClient(models=MODELS, embedding_model="text-embedding-3-small")

    default = await client.chat(chat())
    named = await client.chat(chat(model="gpt-4.1"))
    embedded = await client.embed(EmbeddingRequest(texts=("a",)))

    assert default.model == "simulated:gpt-4o-mini"
    assert named.model == "simulated:gpt-4.1"
    assert embedded.model == "simulated:text-embedding-3-small"


def test_the_simulated_provider_is_priced_at_zero_by_the_worker_wiring() -> None:
    simulated = load_prices(load_settings(ai_provider="simulated"))
    real = load_prices(load_settings(ai_provider="openai"))
    assert simulated.cost("simulated:gpt-4o-mini", 1000, 1000) == 0
    assert real.cost("simulated:gpt-4o-mini", 1000, 1000) is None


async def test_answers_count_tokens() -> None:
    result = await SimulatedAiClient().chat(chat())

    assert result.tokens_in is not None and result.tokens_in > 0
    assert result.tokens_out is not None and result.tokens_out > 0
    assert result.finish_reason == "stop"


async def test_max_tokens_cuts_the_answer_short() -> None:
    result = await SimulatedAiClient().chat(chat(max_tokens=3))

    assert result.tokens_out is not None and result.tokens_out <= 3
    assert result.finish_reason == "length"


async def test_json_output_is_a_json_object() -> None:
    result = await SimulatedAiClient().chat(chat(json_output=True))

    assert json.loads(result.text)["simulated"] is True


async def test_vision_answers_mention_the_images() -> None:
    request = ChatRequest(
        capability=CapabilityType.VISION_OCR,
        messages=(ChatMessage("user", "Read it", images=(ImageInput(url="https://x/y.png"),)),),
    )

    result = await SimulatedAiClient(models=MODELS).chat(request)

    assert "1 image" in result.text
    assert result.model == "simulated:gpt-4o"


async def test_latency_is_honoured() -> None:
    client = SimulatedAiClient(latency_ms=50)
    started = time.perf_counter()

    result = await client.chat(chat())

    # asyncio may wake a timer a clock tick early: a millisecond of slack.
    assert time.perf_counter() - started >= 0.049
    assert result.latency_ms >= 49


async def test_a_failure_rate_of_one_always_fails_as_retryable() -> None:
    client = SimulatedAiClient(failure_rate=1.0)

    for _ in range(20):
        with pytest.raises(RetryableError) as caught:
            await client.chat(chat())
        assert caught.value.code == "ProviderUnavailable"
    with pytest.raises(RetryableError):
        await client.embed(EmbeddingRequest(texts=("a",)))


async def test_a_failure_rate_of_zero_never_fails() -> None:
    client = SimulatedAiClient(failure_rate=0.0)

    for _ in range(200):
        await client.chat(chat())


async def test_a_seed_fails_the_same_calls_every_time() -> None:
    async def outcomes(client: SimulatedAiClient) -> list[bool]:
        seen = []
        for _ in range(40):
            try:
                await client.chat(chat())
                seen.append(True)
            except RetryableError:
                seen.append(False)
        return seen

    first = await outcomes(SimulatedAiClient(failure_rate=0.5, seed=7))
    second = await outcomes(SimulatedAiClient(failure_rate=0.5, seed=7))

    assert first == second
    assert True in first and False in first


async def test_vectors_are_normalized_and_deterministic() -> None:
    texts = ("the cat sat on the mat", "", "x")

    first = await SimulatedAiClient().embed(EmbeddingRequest(texts=texts))
    second = await SimulatedAiClient(seed=3).embed(EmbeddingRequest(texts=texts))

    assert first.vectors == second.vectors
    for vector in first.vectors:
        assert len(vector) == 64
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0)


async def test_a_near_duplicate_ranks_above_an_unrelated_text() -> None:
    query, near, far = (
        await SimulatedAiClient().embed(
            EmbeddingRequest(
                texts=(
                    "How do I reset my password?",
                    "how can I reset my password",
                    "Quarterly revenue grew in Brazil",
                )
            )
        )
    ).vectors

    assert cosine(query, near) > cosine(query, far)


def test_an_impossible_failure_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        SimulatedAiClient(failure_rate=1.5)


async def test_a_simulated_classification_answers_one_of_the_labels() -> None:
    client = SimulatedAiClient()
    labels = ("billing", "outage", "other")
    answers = set()
    for text in ("a", "b", "c", "d", "e", "f"):
        request = ChatRequest(
            capability=CapabilityType.LLM_CLASSIFICATION,
            messages=(ChatMessage("user", text),),
            choices=labels,
        )
        answers.add((await client.chat(request)).text)
    assert answers <= set(labels) and len(answers) > 1


async def test_a_simulated_object_detection_answers_in_the_detection_shape() -> None:
    client = SimulatedAiClient()
    request = ChatRequest(
        capability=CapabilityType.VISION_OBJECT_DETECTION,
        messages=(ChatMessage("user", "find", images=(ImageInput(url="https://x/y.png"),)),),
        json_output=True,
    )
    [found] = json.loads((await client.chat(request)).text)["objects"]
    assert found["label"] and 0 <= found["confidence"] <= 1 and len(found["box"]) == 4
