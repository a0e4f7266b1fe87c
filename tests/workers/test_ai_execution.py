"""AI work end to end: a real worker, real Postgres, and a fake OpenAI-compatible
server on loopback answering over real HTTP.

The worker is wired by `build_worker` exactly as `assistente worker` wires it, with
AI_PROVIDER=openai pointed at the fake server.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from app.domain.enums import CapabilityType
from tests.fake_openai import FakeOpenAI, FakeReply
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status

API_KEY = "sk-test-do-not-leak-1234567890"
NO_WAIT = {"baseSeconds": 0.05, "factor": 1.0, "maxSeconds": 0.05}


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def ai_worker(start_worker: StartWorker, fake_openai: FakeOpenAI, tmp_path: Any) -> Any:
    """start(**settings) -> a worker whose AI provider is the fake server."""

    async def start(**overrides: Any) -> Any:
        settings = {
            "ai_provider": "openai",
            "ai_base_url": fake_openai.base_url,
            "ai_api_key": API_KEY,
            "ai_model_generation": "gpt-4o-mini",
            "ai_timeout_seconds": 5.0,
            "artifact_dir": tmp_path / "artifacts",
            **overrides,
        }
        return await start_worker(**settings)

    return start


async def attempt_rows(conn: psycopg.AsyncConnection[Any], task_id: uuid.UUID) -> list[Any]:
    cursor = await conn.execute(
        "SELECT attempt_no, status::text, error_code, error_detail, model, tokens_in,"
        " tokens_out, cost, latency_ms FROM task_attempts WHERE task_id = %s ORDER BY id",
        (task_id,),
    )
    return await cursor.fetchall()


async def task_row(conn: psycopg.AsyncConnection[Any], task_id: uuid.UUID) -> dict[str, Any]:
    """The task's row, with `result` parsed from its result artifact."""
    cursor = await conn.execute(
        "SELECT status::text, last_error, scheduled_at, updated_at,"
        " (SELECT content::jsonb FROM task_artifacts a WHERE a.task_id = t.id AND kind = 'result')"
        " FROM tasks t WHERE id = %s",
        (task_id,),
    )
    row = await cursor.fetchone()
    assert row is not None
    return dict(
        zip(("status", "last_error", "scheduled_at", "updated_at", "result"), row, strict=True)
    )


async def logged_text(tmp_path: Any) -> str:
    return "".join(p.read_text() for p in tmp_path.glob("*.log"))


async def test_a_generation_records_model_tokens_cost_and_latency_on_its_attempt(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI, tmp_path: Any
) -> None:
    fake_openai.script_chat(FakeReply(text="A short summary.", tokens_in=1200, tokens_out=300))
    await ai_worker()
    [task_id] = await enqueue(
        "summarise",
        capability_type=CapabilityType.LLM_GENERATION,
        payload={"prompt": "Summarise the contract.", "context": "The contract says…"},
    )
    await wait_for_status(conn, [task_id], {"Succeeded"})

    [attempt] = await attempt_rows(conn, task_id)
    assert attempt[1] == "Succeeded"
    assert attempt[4] == "gpt-4o-mini"
    assert (attempt[5], attempt[6]) == (1200, 300)
    # gpt-4o-mini: 0.15 USD per 1M input tokens, 0.60 per 1M output tokens.
    assert float(attempt[7]) == pytest.approx(1200 * 0.15 / 1e6 + 300 * 0.60 / 1e6)
    assert attempt[8] is not None and attempt[8] >= 0
    task = await task_row(conn, task_id)
    assert task["result"]["text"] == "A short summary."

    [request] = fake_openai.chat_requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    sent = str(request.json["messages"])
    assert "Summarise the contract." in sent and "The contract says" in sent
    # The key and the prompt stay out of the logs.
    logs = await logged_text(tmp_path)
    assert API_KEY not in logs and "Summarise the contract" not in logs


async def test_an_unknown_model_is_recorded_with_a_null_cost(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script_chat(FakeReply(text="ok", tokens_in=10, tokens_out=2, model="my-llama"))
    await ai_worker()
    [task_id] = await enqueue(
        "t", capability_type=CapabilityType.LLM_GENERATION, payload={"prompt": "hi"}
    )
    await wait_for_status(conn, [task_id], {"Succeeded"})
    [attempt] = await attempt_rows(conn, task_id)
    assert (attempt[4], attempt[5], attempt[6], attempt[7]) == ("my-llama", 10, 2, None)


async def test_a_429_delays_the_retry_by_its_retry_after(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script_chat(FakeReply(status=429, headers={"Retry-After": "30"}))
    await ai_worker()
    [task_id] = await enqueue(
        "t",
        capability_type=CapabilityType.LLM_GENERATION,
        payload={"prompt": "hi"},
        retry_policy=NO_WAIT,
    )
    await wait_for_status(conn, [task_id], {"Failed"})
    [attempt] = await attempt_rows(conn, task_id)
    assert attempt[1] == "Failed" and attempt[2] == "ProviderRateLimited"
    task = await task_row(conn, task_id)
    # The backoff alone would wait 0.05 s: the server's 30 s wins.
    delay = task["scheduled_at"] - task["updated_at"]
    assert timedelta(seconds=29) <= delay <= timedelta(seconds=31), delay
    assert len(fake_openai.chat_requests) == 1


async def test_5xx_is_retried_until_max_attempts_then_dead_lettered(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script_chat(*[FakeReply(status=503, error_message="overloaded")] * 3)
    await ai_worker()
    [task_id] = await enqueue(
        "t",
        capability_type=CapabilityType.LLM_GENERATION,
        payload={"prompt": "hi"},
        max_attempts=3,
        retry_policy=NO_WAIT,
    )
    await wait_for_status(conn, [task_id], {"DeadLetter"}, within=20)
    attempts = await attempt_rows(conn, task_id)
    assert [(a[0], a[1], a[2]) for a in attempts] == [
        (1, "Failed", "ProviderUnavailable"),
        (2, "Failed", "ProviderUnavailable"),
        (3, "Failed", "ProviderUnavailable"),
    ]
    assert len(fake_openai.chat_requests) == 3


async def test_a_400_dead_letters_at_once_without_a_retry(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script_chat(FakeReply(status=400, error_message="max_tokens is too large"))
    await ai_worker()
    [task_id] = await enqueue(
        "t",
        capability_type=CapabilityType.LLM_GENERATION,
        payload={"prompt": "hi"},
        max_attempts=5,
        retry_policy=NO_WAIT,
    )
    await wait_for_status(conn, [task_id], {"DeadLetter"})
    [attempt] = await attempt_rows(conn, task_id)
    assert attempt[2] == "ProviderRejected"
    assert "400" in attempt[3] and "max_tokens is too large" in attempt[3]
    assert API_KEY not in attempt[3]
    assert len(fake_openai.chat_requests) == 1


async def test_a_provider_that_does_not_answer_in_time_is_retried(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script_chat(FakeReply(delay=3.0), FakeReply(text="second time lucky"))
    await ai_worker(ai_timeout_seconds=0.5)
    [task_id] = await enqueue(
        "t",
        capability_type=CapabilityType.LLM_GENERATION,
        payload={"prompt": "hi"},
        retry_policy=NO_WAIT,
    )
    await wait_for_status(conn, [task_id], {"Succeeded"}, within=20)
    attempts = await attempt_rows(conn, task_id)
    assert [(a[1], a[2]) for a in attempts] == [("Failed", "ProviderTimeout"), ("Succeeded", None)]
    assert (await task_row(conn, task_id))["result"]["text"] == "second time lucky"


async def test_a_classification_outside_the_labels_is_retried_then_fails_clearly(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script_chat(*[FakeReply(text="Maybe spam?", tokens_in=50, tokens_out=3)] * 2)
    await ai_worker(ai_model_classification="gpt-4o-mini")
    [task_id] = await enqueue(
        "triage",
        capability_type=CapabilityType.LLM_CLASSIFICATION,
        payload={"text": "WIN A PRIZE NOW", "labels": ["spam", "ham"]},
        max_attempts=2,
        retry_policy=NO_WAIT,
    )
    await wait_for_status(conn, [task_id], {"DeadLetter"}, within=20)
    attempts = await attempt_rows(conn, task_id)
    assert [a[2] for a in attempts] == ["LabelNotAllowed", "LabelNotAllowed"]
    assert "Maybe spam?" in attempts[-1][3] and "spam" in attempts[-1][3]
    # The tokens of the wrong answers were spent, so they are recorded.
    assert [(a[5], a[6]) for a in attempts] == [(50, 3), (50, 3)]


async def test_a_classification_answer_is_matched_to_its_label_and_kept_raw(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script_chat(FakeReply(text=' "Spam". '))
    await ai_worker()
    [task_id] = await enqueue(
        "triage",
        capability_type=CapabilityType.LLM_CLASSIFICATION,
        payload={"text": "WIN A PRIZE NOW", "labels": ["spam", "ham"]},
    )
    await wait_for_status(conn, [task_id], {"Succeeded"})
    result = (await task_row(conn, task_id))["result"]
    assert result["label"] == "spam" and result["raw"] == ' "Spam". '


async def test_embedding_search_ranks_candidates_by_similarity(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    await ai_worker()
    candidates = ["zzz qqq", "the cat sat on the mat", "a cat sat on a mat!"]
    [task_id] = await enqueue(
        "search",
        capability_type=CapabilityType.EMBEDDING_SEARCH,
        payload={"query": "the cat sat on the mat", "candidates": candidates},
    )
    await wait_for_status(conn, [task_id], {"Succeeded"})
    results = (await task_row(conn, task_id))["result"]["results"]
    assert [r["index"] for r in results] == [1, 2, 0]
    assert results[0]["score"] == pytest.approx(1.0)
    assert results[0]["score"] >= results[1]["score"] >= results[2]["score"]
    [request] = fake_openai.embedding_requests
    assert request.json["input"] == ["the cat sat on the mat", *candidates]


async def test_a_vision_image_over_the_size_limit_fails_before_any_call(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    await ai_worker(vision_max_image_bytes=2048)
    small = base64.b64encode(b"\x89PNG" + b"\0" * 1000).decode()
    large = base64.b64encode(b"\x89PNG" + b"\0" * 4000).decode()
    ok_id, too_large_id, bad_id = [
        (
            await enqueue(
                "ocr",
                capability_type=CapabilityType.VISION_OCR,
                payload={"image": image},
                max_attempts=3,
            )
        )[0]
        for image in (
            {"base64": small, "mediaType": "image/png"},
            {"base64": large, "mediaType": "image/png"},
            {"base64": "not base64!", "mediaType": "image/png"},
        )
    ]
    await wait_for_status(conn, [ok_id], {"Succeeded"})
    await wait_for_status(conn, [too_large_id, bad_id], {"DeadLetter"})
    assert "payload.image" in (await task_row(conn, too_large_id))["last_error"]
    assert "payload.image" in (await task_row(conn, bad_id))["last_error"]
    # Only the image within the limit reached the provider, as a data URL.
    [request] = fake_openai.chat_requests
    parts = request.json["messages"][-1]["content"]
    assert any(
        p.get("image_url", {}).get("url", "").startswith("data:image/png;base64,") for p in parts
    )


async def test_an_integration_to_a_host_off_the_allow_list_is_refused(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI
) -> None:
    # The fake speaks plain http, which only an http:// entry allows.
    allowed = "http://" + fake_openai.base_url.split("/")[2]  # http://127.0.0.1:PORT
    await ai_worker(integration_allowed_hosts=allowed)
    refused_id, allowed_id = [
        (
            await enqueue(
                "call",
                capability_type=CapabilityType.EXTERNAL_INTEGRATION,
                payload={"request": {"method": "POST", "url": url, "json": {"input": ["x"]}}},
                max_attempts=3,
            )
        )[0]
        for url in ("http://example.com/hook", f"{fake_openai.base_url}/embeddings")
    ]
    await wait_for_status(conn, [refused_id], {"DeadLetter"})
    await wait_for_status(conn, [allowed_id], {"Succeeded"})
    [attempt] = await attempt_rows(conn, refused_id)
    assert attempt[2] == "HostNotAllowed" and "example.com" in attempt[3]
    assert (await task_row(conn, allowed_id))["result"]["status"] == 200
    assert len(fake_openai.embedding_requests) == 1


async def test_the_usage_roll_up_matches_the_attempts(
    ai_worker: Any, enqueue: Enqueue, conn: Any, fake_openai: FakeOpenAI, tenant: uuid.UUID
) -> None:
    fake_openai.script_chat(
        FakeReply(text="a", tokens_in=100, tokens_out=10),
        FakeReply(text="b", tokens_in=200, tokens_out=20),
        FakeReply(text="c", tokens_in=7, tokens_out=1, model="my-llama"),
    )
    await ai_worker()
    ids = []
    for _ in range(3):  # one at a time, so the scripted replies meet tasks in order
        ids += await enqueue(
            "t", capability_type=CapabilityType.LLM_GENERATION, payload={"prompt": "p"}
        )
        await wait_for_status(conn, ids, {"Succeeded"})

    cursor = await conn.execute(
        "SELECT model, sum(tokens_in), sum(tokens_out), sum(cost), count(*)"
        " FROM task_attempts WHERE task_id = ANY(%s) GROUP BY model ORDER BY model",
        (ids,),
    )
    from_attempts = await cursor.fetchall()
    cursor = await conn.execute(
        "SELECT model, tokens_in, tokens_out, cost, attempts FROM usage_daily"
        " WHERE tenant_id = %s ORDER BY model",
        (tenant,),
    )
    assert await cursor.fetchall() == from_attempts
    assert [row[0] for row in from_attempts] == ["gpt-4o-mini", "my-llama"]
