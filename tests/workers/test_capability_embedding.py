"""The embedding search handler: candidates ranked by similarity to the query, and charged."""

from __future__ import annotations

from decimal import Decimal

from app.domain.enums import CapabilityType
from tests.fakes import FakeAiClient
from tests.workers.capability_kit import Conn, Kit, result_of, run, usage_of
from tests.workers.conftest import Enqueue, StartWorker


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
