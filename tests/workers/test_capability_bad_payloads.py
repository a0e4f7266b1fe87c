"""Every capability refuses a bad payload before calling anything, naming the field."""

from __future__ import annotations

from typing import Any

from app.application.capabilities import CapabilityLimits
from app.domain.enums import CapabilityType
from tests.workers.capability_kit import Conn, Kit, last_error, usage_of
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status

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
