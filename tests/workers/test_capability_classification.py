"""The classification handler: an answer must be one of the labels, and the raw answer is kept."""

from __future__ import annotations

from app.domain.enums import CapabilityType
from tests.fakes import FakeAiClient
from tests.workers.capability_kit import FAST_RETRY, Conn, Kit, last_error, result_of, run, usage_of
from tests.workers.conftest import Enqueue, StartWorker


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
