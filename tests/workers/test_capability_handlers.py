"""Built-in capability handlers run by a real worker on Postgres, with fake AI and HTTP ports.

Tasks name a type nobody registered a handler for, so the handler chosen by their
capabilityType does the work.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

from app.application.ai import ChatRequest
from app.application.capabilities import CapabilityLimits, capability_handlers
from app.application.capabilities.usage import charge
from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.domain.enums import CapabilityType
from app.domain.pricing import PriceTable
from tests.fakes import (
    FakeAiClient,
    FakeArtifactStore,
    FakeIntegrationClient,
    chat_result,
    json_response,
)
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status

Conn = psycopg.AsyncConnection[Any]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
FAST_RETRY = {"baseSeconds": 0.05, "maxSeconds": 0.1}


@dataclass
class Kit:
    """The fakes behind one registry of capability handlers."""

    ai: FakeAiClient = field(default_factory=FakeAiClient)
    artifacts: FakeArtifactStore = field(default_factory=FakeArtifactStore)
    integration: FakeIntegrationClient = field(default_factory=FakeIntegrationClient)
    limits: CapabilityLimits = field(default_factory=CapabilityLimits)

    @property
    def registry(self) -> HandlerRegistry:
        return capability_handlers(
            ai=self.ai,
            prices=PriceTable.defaults(),
            integration=self.integration,
            artifacts=self.artifacts,
            limits=self.limits,
        )


async def run(
    kit: Kit,
    enqueue: Enqueue,
    start_worker: StartWorker,
    conn: Conn,
    capability: CapabilityType,
    payload: dict[str, Any],
    *,
    until: set[str] | None = None,
    **fields: Any,
) -> uuid.UUID:
    """Enqueue one task of `capability`, run it, and wait until it has finished."""
    [task_id] = await enqueue(
        "customer.task", payload=payload, capability_type=capability, **fields
    )
    await start_worker(kit.registry)
    await wait_for_status(conn, [task_id], until or {"Succeeded"})
    return task_id


async def result_of(conn: Conn, task_id: uuid.UUID) -> Any:
    cursor = await conn.execute(
        "SELECT content FROM task_artifacts WHERE task_id = %s AND kind = 'result'", (task_id,)
    )
    row = await cursor.fetchone()
    assert row is not None
    return json.loads(row[0])


async def usage_of(conn: Conn, task_id: uuid.UUID) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(
        "SELECT status::text, error_code, model, tokens_in, tokens_out, cost, latency_ms "
        "FROM task_attempts_current WHERE task_id = %s ORDER BY id",
        (task_id,),
    )
    return await cursor.fetchall()


async def outputs_of(conn: Conn, task_id: uuid.UUID) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(
        "SELECT kind, name, content, uri FROM task_artifacts "
        "WHERE task_id = %s AND kind <> 'result' ORDER BY created_at",
        (task_id,),
    )
    return await cursor.fetchall()


async def last_error(conn: Conn, task_id: uuid.UUID) -> str:
    cursor = await conn.execute("SELECT last_error FROM tasks WHERE id = %s", (task_id,))
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


# -- every capability refuses a bad payload before calling anything --------------------------


BAD_PAYLOADS: list[tuple[CapabilityType, dict[str, Any], str]] = [
    (CapabilityType.LLM_GENERATION, {"prompt": ""}, "payload.prompt: must not be empty"),
    (CapabilityType.LLM_REASONING, {"prompt": "p", "maxTokens": 0}, "payload.maxTokens"),
    (
        CapabilityType.LLM_CLASSIFICATION,
        {"text": "t", "labels": ["one"]},
        "payload.labels: must list at least 2 labels",
    ),
    (CapabilityType.VISION_OCR, {"image": {}}, "payload.image: give exactly one of"),
    (
        CapabilityType.VISION_OBJECT_DETECTION,
        {"image": {"url": "ftp://x"}},
        "payload.image.url: must be an http:// or https:// URL",
    ),
    (CapabilityType.EMBEDDING_SEARCH, {"query": "q"}, "payload.candidates: is required"),
    (
        CapabilityType.RULE_ENGINE,
        {"rules": [{"name": "r", "when": {"field": "a", "op": "regex", "value": "."}}], "data": {}},
        "payload.rules[0].when.op: unknown operator 'regex'",
    ),
    (
        CapabilityType.EXTERNAL_INTEGRATION,
        {"request": {"method": "GET", "url": "https://api.example.com", "body": "x"}},
        "payload.request: a GET request has no body",
    ),
]


async def test_a_bad_payload_dead_letters_at_once_naming_the_field_without_any_call(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(limits=CapabilityLimits(allowed_hosts=frozenset({"api.example.com"})))
    ids = {}
    for capability, payload, _ in BAD_PAYLOADS:
        [ids[capability]] = await enqueue(
            "customer.task", payload=payload, capability_type=capability, max_attempts=3
        )
    await start_worker(kit.registry)
    await wait_for_status(conn, list(ids.values()), {"DeadLetter"})
    for capability, _, message in BAD_PAYLOADS:
        attempts = await usage_of(conn, ids[capability])
        assert [a[:2] for a in attempts] == [("Failed", "BadPayload")], capability
        assert (await last_error(conn, ids[capability])).startswith(message), capability
    assert kit.ai.calls == 0
    assert kit.integration.calls == []


# -- generation -------------------------------------------------------------------------------


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
    ctx = TaskContext(
        task_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        task_type="t",
        payload={},
        attempt=1,
        max_attempts=1,
        attempt_id=1,
        trace_id=None,
        correlation_id=None,
        store=None,  # type: ignore[arg-type]  # charging writes nothing
    )
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


# -- classification ---------------------------------------------------------------------------


async def test_an_answer_outside_the_labels_is_retried_then_dead_lettered_with_the_answer(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(ai=FakeAiClient(["Somewhat positive, I think"]))
    payload = {"text": "Great service", "labels": ["positive", "negative"]}
    task_id = await run(
        kit,
        enqueue,
        start_worker,
        conn,
        CapabilityType.LLM_CLASSIFICATION,
        payload,
        until={"DeadLetter"},
        max_attempts=2,
        retry_policy=FAST_RETRY,
    )
    attempts = await usage_of(conn, task_id)
    # Every attempt made a call, and every call was charged, right answer or not.
    assert [a[:5] for a in attempts] == [
        ("Failed", "LabelNotAllowed", "gpt-4o-mini", 100, 20),
        ("Failed", "LabelNotAllowed", "gpt-4o-mini", 100, 20),
    ]
    assert await last_error(conn, task_id) == (
        "the model answered 'Somewhat positive, I think', which is not one of the allowed "
        "labels: 'positive', 'negative'"
    )
    assert len(kit.ai.chat_requests) == 2


async def test_a_classification_keeps_the_raw_answer(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(ai=FakeAiClient([' "Negative." ']))
    payload = {"text": "Slow and rude", "labels": ["Positive", "Negative"], "instructions": "Tone"}
    task_id = await run(
        kit, enqueue, start_worker, conn, CapabilityType.LLM_CLASSIFICATION, payload
    )
    assert await result_of(conn, task_id) == {"label": "Negative", "raw": ' "Negative." '}
    [request] = kit.ai.chat_requests
    assert request.capability is CapabilityType.LLM_CLASSIFICATION
    assert "- Positive\n- Negative" in request.messages[-1].text
    assert "Tone" in request.messages[0].text


# -- embeddings -------------------------------------------------------------------------------


async def test_embedding_search_ranks_candidates_by_similarity(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    vectors = {
        "refund policy": [1.0, 0.0, 0.0],
        "shipping times": [0.0, 1.0, 0.0],
        "returns and refunds": [0.9, 0.1, 0.0],
        "empty": [0.0, 0.0, 0.0],
        "store hours": [0.3, 0.3, 0.9],
    }
    kit = Kit(ai=FakeAiClient(vectors=vectors))
    candidates = ["shipping times", "returns and refunds", "empty", "store hours"]
    payload = {"query": "refund policy", "candidates": candidates, "topK": 3}
    task_id = await run(kit, enqueue, start_worker, conn, CapabilityType.EMBEDDING_SEARCH, payload)
    result = await result_of(conn, task_id)
    assert result["model"] == "text-embedding-3-small"
    assert [(r["index"], r["text"]) for r in result["results"]] == [
        (1, "returns and refunds"),
        (3, "store hours"),
        (0, "shipping times"),
    ]
    assert result["results"][0]["score"] > result["results"][1]["score"] > 0
    [request] = kit.ai.embed_requests
    assert request.texts == ("refund policy", *candidates)
    [attempt] = await usage_of(conn, task_id)
    # 2 + 2 + 3 + 1 + 2 words in, no output tokens; 0.02 USD per million in.
    assert attempt[2:6] == ("text-embedding-3-small", 10, None, Decimal("0.000000"))


# -- vision -----------------------------------------------------------------------------------


async def test_inline_images_that_are_too_large_invalid_or_doubled_dead_letter_at_once(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(limits=CapabilityLimits(vision_max_image_bytes=100))
    cases = {
        "ImageTooLarge": ({"base64": base64.b64encode(PNG).decode()}, "payload.image.base64"),
        "BadPayload": ({"base64": "***"}, "payload.image.base64: is not valid base64"),
    }
    ids = {}
    for code, (image, _) in cases.items():
        [ids[code]] = await enqueue(
            "t", payload={"image": image}, capability_type=CapabilityType.VISION_OCR
        )
    both = {"url": "https://img.example.com/a.png", "base64": "aGk="}
    [ids["both"]] = await enqueue(
        "t", payload={"image": both}, capability_type=CapabilityType.VISION_OBJECT_DETECTION
    )
    await start_worker(kit.registry)
    await wait_for_status(conn, list(ids.values()), {"DeadLetter"})

    for code, (_, message) in cases.items():
        [attempt] = await usage_of(conn, ids[code])
        assert attempt[:2] == ("Failed", code)
        assert (await last_error(conn, ids[code])).startswith(message)
    assert await last_error(conn, ids["both"]) == "payload.image: give exactly one of url or base64"
    assert kit.ai.calls == 0


async def test_image_urls_can_be_turned_off_for_a_provider_inside_the_network(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(limits=CapabilityLimits(vision_image_urls=False))
    image = {"url": "http://169.254.169.254/latest/meta-data/"}
    [task_id] = await enqueue(
        "t", payload={"image": image}, capability_type=CapabilityType.VISION_OCR
    )
    await start_worker(kit.registry)
    await wait_for_status(conn, [task_id], {"DeadLetter"})
    assert (await last_error(conn, task_id)).startswith("payload.image.url: image URLs are")
    assert kit.ai.calls == 0


async def test_ocr_sends_the_image_and_returns_its_text(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(ai=FakeAiClient(["INVOICE 17\nTotal 12.00"]))
    encoded = base64.b64encode(PNG).decode()
    payload = {"image": {"base64": encoded}}
    task_id = await run(kit, enqueue, start_worker, conn, CapabilityType.VISION_OCR, payload)
    assert await result_of(conn, task_id) == {
        "text": "INVOICE 17\nTotal 12.00",
        "model": "gpt-4o-mini",
    }
    [request] = kit.ai.chat_requests
    [message] = request.messages
    [image] = message.images
    assert (image.data_base64, image.media_type) == (encoded, "image/png")
    assert "Extract all text" in message.text


async def test_object_detection_retries_an_answer_that_is_not_the_json_asked_for(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    good = {"objects": [{"label": "dog", "confidence": 0.8, "box": [0.1, 0.2, 0.3, 0.4]}]}
    kit = Kit(ai=FakeAiClient(["I see a dog", json.dumps(good)]))
    payload = {"image": {"url": "https://img.example.com/dog.jpg"}, "prompt": "Find animals"}
    task_id = await run(
        kit,
        enqueue,
        start_worker,
        conn,
        CapabilityType.VISION_OBJECT_DETECTION,
        payload,
        retry_policy=FAST_RETRY,
    )
    assert [a[:2] for a in await usage_of(conn, task_id)] == [
        ("Failed", "BadModelOutput"),
        ("Succeeded", None),
    ]
    assert await result_of(conn, task_id) == {**good, "model": "gpt-4o-mini"}
    request = kit.ai.chat_requests[0]
    assert request.json_output
    assert request.messages[-1].images[0].url == "https://img.example.com/dog.jpg"


# -- rules and integrations ---------------------------------------------------------------------


async def test_rule_engine_reports_the_matching_rules(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit()
    payload = {
        "rules": [
            {"name": "big", "when": {"field": "order.total", "op": "gt", "value": 100}, "then": 1},
            {"name": "eu", "when": {"field": "order.country", "op": "in", "value": ["PT", "ES"]}},
            {"name": "odd", "when": {"field": "order.total", "op": "lt", "value": 0}},
        ],
        "data": {"order": {"total": 150, "country": "PT"}},
    }
    task_id = await run(kit, enqueue, start_worker, conn, CapabilityType.RULE_ENGINE, payload)
    assert await result_of(conn, task_id) == {
        "matched": ["big", "eu"],
        "results": [{"name": "big", "then": 1}, {"name": "eu", "then": None}],
        "first": 1,
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://internal.example.com/admin", "https://internal.example.com is not in the"),
        # Listed by name means https only: the Authorization header never goes in clear.
        ("http://api.example.com/orders", "http://api.example.com is not allowed: only https"),
    ],
)
async def test_an_integration_to_a_host_not_allowed_is_refused_before_any_call(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, url: str, message: str
) -> None:
    kit = Kit(limits=CapabilityLimits(allowed_hosts=frozenset({"api.example.com"})))
    request = {"method": "POST", "url": url, "headers": {"Authorization": "Bearer t0ken"}}
    task_id = await run(
        kit,
        enqueue,
        start_worker,
        conn,
        CapabilityType.EXTERNAL_INTEGRATION,
        {"request": request},
        until={"DeadLetter"},
    )
    [attempt] = await usage_of(conn, task_id)
    assert attempt[:2] == ("Failed", "HostNotAllowed")
    assert (await last_error(conn, task_id)).startswith(f"payload.request.url: {message}")
    assert kit.integration.calls == []


async def test_an_integration_returns_the_status_and_parsed_json(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(
        integration=FakeIntegrationClient(json_response(201, {"id": 9}, {"x-secret": "s"})),
        limits=CapabilityLimits(allowed_hosts=frozenset({"api.example.com"})),
    )
    request = {
        "method": "POST",
        "url": "https://api.example.com/orders",
        "headers": {"Authorization": "Bearer t0ken"},
        "json": {"sku": "A-1"},
    }
    task_id = await run(
        kit, enqueue, start_worker, conn, CapabilityType.EXTERNAL_INTEGRATION, {"request": request}
    )
    assert await result_of(conn, task_id) == {
        "status": 201,
        "headers": {"content-type": "application/json"},
        "body": {"id": 9},
    }
    [call] = kit.integration.calls
    assert (call.method, call.url, call.json_body, call.body) == (
        "POST",
        "https://api.example.com/orders",
        {"sku": "A-1"},
        None,
    )
    assert call.timeout == kit.limits.integration_timeout_seconds
