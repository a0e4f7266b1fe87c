"""A batch's own events go through the outbox like every task event, as catalogued."""

from __future__ import annotations

from typing import Any

import psycopg

from app.adapters.postgres.lease_store import PgLeaseStore
from app.application.ports import FinishedAttempt
from app.bootstrap import Services
from app.domain import outcome
from app.domain.enums import AttemptStatus, TaskStatus
from app.domain.event_catalogue import MODELS
from app.domain.events import BatchEventType, EventType
from app.domain.outcome import Outcome
from tests.batches.conftest import MakeBatch

Conn = psycopg.AsyncConnection[Any]


async def test_every_batch_event_in_the_outbox_matches_its_schema(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(2, max_attempts=1)
    store = PgLeaseStore(services.pool)
    first, second = await store.lease_available("w1", 2, 30)
    dead = Outcome(TaskStatus.DEAD_LETTER, AttemptStatus.FAILED, EventType.DEAD_LETTERED)
    await store.finish_attempts("w1", [FinishedAttempt(first.id, first.attempt_id, dead)])
    await store.finish_attempts(
        "w1", [FinishedAttempt(second.id, second.attempt_id, outcome.SUCCEEDED)]
    )
    await services.tasks.requeue(batch.tenant_id, first.id, "operator")

    cursor = await conn.execute(
        "SELECT content FROM outbox_messages WHERE task_id = %s ORDER BY id", (batch.id,)
    )
    messages = [row[0] for row in await cursor.fetchall()]
    for message in messages:
        MODELS[BatchEventType(message["eventType"])].model_validate(message)
    assert [m["eventType"] for m in messages] == [
        "BatchCreated",
        "BatchProgressed",
        "BatchCompleted",
        "BatchReopened",
    ]
    assert [m["status"] for m in messages] == ["Created", "Created", "DeadLetter", "Created"]
