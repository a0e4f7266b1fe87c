"""Generation and reasoning handlers: the request sent, the cost charged, the outputs kept."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from structlog.testing import capture_logs

from app.application.ai import ChatRequest
from app.application.capabilities import CapabilityLimits
from app.application.capabilities.usage import charge
from app.domain.enums import CapabilityType
from app.domain.pricing import PriceTable
from tests.factories import bare_context
from tests.fakes import FakeAiClient, chat_result
from tests.workers.capability_kit import Conn, Kit, outputs_of, result_of, run, usage_of
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status


async def test_generation_charges_tokens_and_cost_to_the_attempt(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(ai=FakeAiClient([chat_result("A summary.", tokens_in=1000, tokens_out=500)]))
    payload = {
        "prompt": "Summarise the ticket",
        "context": {"ticket": 42},
        "system": "Be brief.",
        "maxTokens": 300,
        "temperature": 0.3,
    }
    task_id = await run(kit, enqueue, start_worker, conn, CapabilityType.LLM_GENERATION, payload)

    # gpt-4o-mini: 1000 * 0.15 + 500 * 0.60 USD per million tokens
    assert await usage_of(conn, task_id) == [
        ("Succeeded", None, "gpt-4o-mini", 1000, 500, Decimal("0.000450"), 30)
    ]
    assert await result_of(conn, task_id) == {
        "text": "A summary.",
        "model": "gpt-4o-mini",
        "finishReason": "stop",
        "tokensIn": 1000,
        "tokensOut": 500,
    }
    [request] = kit.ai.chat_requests
    assert request.capability is CapabilityType.LLM_GENERATION
    assert (request.max_tokens, request.temperature, request.model) == (300, 0.3, None)
    system, user = request.messages
    assert (system.role, system.text) == ("system", "Be brief.")
    assert user.role == "user"
    assert user.text.startswith("Summarise the ticket\n\nContext:\n")
    assert json.loads(user.text.split("Context:\n", 1)[1]) == {"ticket": 42}


async def test_reasoning_asks_for_the_reasoning_capability(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(ai=FakeAiClient([chat_result("42", model="o3-mini")]))
    payload = {"prompt": "Think", "model": "o3-mini"}
    await run(kit, enqueue, start_worker, conn, CapabilityType.LLM_REASONING, payload)
    [request] = kit.ai.chat_requests
    assert (request.capability, request.model) == (CapabilityType.LLM_REASONING, "o3-mini")


async def test_a_model_without_a_price_is_recorded_with_a_null_cost(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(ai=FakeAiClient([chat_result("hi", model="house-model-7", tokens_in=12)]))
    payload = {"prompt": "Hello", "model": "house-model-7"}
    task_id = await run(kit, enqueue, start_worker, conn, CapabilityType.LLM_GENERATION, payload)
    assert await usage_of(conn, task_id) == [("Succeeded", None, "house-model-7", 12, 20, None, 30)]


def test_an_unknown_model_price_is_warned_once_per_model() -> None:
    ctx = bare_context()
    model = f"unpriced-{uuid.uuid4().hex[:8]}"
    with capture_logs() as logs:
        for _ in range(3):
            assert charge(ctx, chat_result("x", model=model), PriceTable.defaults()) is None
    assert [(log["event"], log["model"]) for log in logs] == [("unknown_model_price", model)]
    assert (ctx.usage.calls, ctx.usage.tokens_in, ctx.usage.cost) == (3, 300, None)


async def test_a_large_output_goes_to_the_artifact_store_and_a_small_one_stays_inline(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    def respond(request: ChatRequest) -> str:
        return "é" * 300 if "long" in request.messages[-1].text else "short answer"

    kit = Kit(ai=FakeAiClient(respond=respond), limits=CapabilityLimits(inline_max_bytes=500))
    ids = []
    for prompt in ("write short", "write long"):
        ids += await enqueue(
            "t", payload={"prompt": prompt}, capability_type=CapabilityType.LLM_GENERATION
        )
    small, large = ids
    await start_worker(kit.registry)
    await wait_for_status(conn, ids, {"Succeeded"})

    assert await outputs_of(conn, small) == [("text", "output.txt", "short answer", None)]
    assert (await result_of(conn, small))["text"] == "short answer"

    uri = f"fake://{large}/output.txt"
    assert await outputs_of(conn, large) == [("file", "output.txt", None, uri)]
    assert kit.artifacts.items[uri] == ("é" * 300).encode()
    result = await result_of(conn, large)
    assert result["text"] is None
    assert result["textArtifact"] == {
        "name": "output.txt",
        "uri": uri,
        "sizeBytes": 600,
        "contentType": "text/plain; charset=utf-8",
    }
    # Both rows know their size: measured inline, told by the writer of the stored file.
    cursor = await conn.execute(
        "SELECT task_id, size_bytes FROM task_artifacts WHERE kind IN ('text', 'file')"
    )
    assert dict(await cursor.fetchall()) == {small: len(b"short answer"), large: 600}
