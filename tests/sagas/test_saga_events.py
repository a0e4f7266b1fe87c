"""A saga's own events go through the outbox like every task event, as catalogued; its
steps move on in the transaction of the outcome that moves them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.saga_store import PgSagaStore
from app.application.ports import FinishedAttempt
from app.application.sagas import CreateSaga, SagaStep, create_saga
from app.application.task_repository import EnqueueTask
from app.bootstrap import Services
from app.domain import outcome
from app.domain.enums import AttemptStatus, TaskStatus
from app.domain.event_catalogue import MODELS
from app.domain.events import EventType, SagaEventType
from app.domain.outcome import Outcome
from tests.sagas.conftest import MakeSaga

Conn = psycopg.AsyncConnection[Any]
DEAD = Outcome(TaskStatus.DEAD_LETTER, AttemptStatus.FAILED, EventType.DEAD_LETTERED)


async def statuses(conn: Conn, saga_id: Any) -> list[tuple[str, str | None]]:
    """(step status, compensation status) of each step, as a DBA sees them."""
    cursor = await conn.execute(
        "SELECT step_status::text, compensation_status::text FROM saga_step_status"
        " WHERE saga_id = %s ORDER BY position",
        (saga_id,),
    )
    return [(row[0], row[1]) for row in await cursor.fetchall()]


async def test_every_saga_event_in_the_outbox_matches_its_schema(
    conn: Conn, services: Services, make_saga: MakeSaga
) -> None:
    saga = await make_saga(2, compensate_failed_step=False)
    store = PgLeaseStore(services.pool)
    (first,) = await store.lease_available("w1", 5, 30)
    await store.finish_attempts(
        "w1", [FinishedAttempt(first.id, first.attempt_id, outcome.SUCCEEDED)]
    )
    (second,) = await store.lease_available("w1", 5, 30)
    await store.finish_attempts("w1", [FinishedAttempt(second.id, second.attempt_id, DEAD)])
    (undo,) = await store.lease_available("w1", 5, 30)
    assert await statuses(conn, saga.id) == [("Succeeded", "Reserved"), ("DeadLetter", None)]
    await store.finish_attempts(
        "w1", [FinishedAttempt(undo.id, undo.attempt_id, outcome.SUCCEEDED)]
    )

    cursor = await conn.execute(
        "SELECT content FROM outbox_messages WHERE task_id = %s ORDER BY id", (saga.id,)
    )
    messages = [row[0] for row in await cursor.fetchall()]
    for message in messages:
        MODELS[SagaEventType(message["eventType"])].model_validate(message)
    assert [m["eventType"] for m in messages] == [
        "SagaStarted",
        "SagaStepReleased",
        "SagaCompensating",
        "SagaStepReleased",
        "SagaCompleted",
    ]
    assert messages[3]["role"] == "compensation" and messages[3]["step"] == 0
    assert (messages[-1]["status"], messages[-1]["outcome"]) == ("DeadLetter", "compensated")


async def test_a_held_step_is_not_claimable_until_the_one_before_it_succeeded(
    conn: Conn, services: Services, make_saga: MakeSaga
) -> None:
    saga = await make_saga(2)
    store = PgLeaseStore(services.pool)
    (first,) = await store.lease_available("w1", 5, 30)
    assert await store.lease_available("w2", 5, 30) == []  # step 1 is held
    cursor = await conn.execute(
        "SELECT waiting_for FROM held_tasks WHERE id = %s", (saga.steps[1].task_id,)
    )
    assert (await cursor.fetchone()) == (f"saga {saga.id}: step 0 to succeed",)
    await store.finish_attempts(
        "w1", [FinishedAttempt(first.id, first.attempt_id, outcome.SUCCEEDED)]
    )
    (second,) = await store.lease_available("w2", 5, 30)
    assert second.id == saga.steps[1].task_id


async def test_a_saga_with_nothing_to_undo_ends_compensated_at_once(
    conn: Conn, services: Services, make_saga: MakeSaga
) -> None:
    saga = await make_saga(2, undo=None)
    store = PgLeaseStore(services.pool)
    (first,) = await store.lease_available("w1", 5, 30)
    await store.finish_attempts("w1", [FinishedAttempt(first.id, first.attempt_id, DEAD)])
    cursor = await conn.execute(
        "SELECT status::text, phase, failed_step FROM saga_progress WHERE saga_id = %s",
        (saga.id,),
    )
    assert await cursor.fetchone() == ("DeadLetter", "compensated", 0)
    assert await statuses(conn, saga.id) == [("DeadLetter", None), ("Cancelled", None)]


async def test_a_dead_saga_step_is_not_requeued(services: Services, make_saga: MakeSaga) -> None:
    saga = await make_saga(1, undo=None)
    store = PgLeaseStore(services.pool)
    (first,) = await store.lease_available("w1", 5, 30)
    await store.finish_attempts("w1", [FinishedAttempt(first.id, first.attempt_id, DEAD)])
    assert not await services.tasks.requeue(saga.tenant_id, first.id, "operator")


async def test_a_cancel_while_compensating_does_not_stop_the_compensations(
    conn: Conn, services: Services, make_saga: MakeSaga
) -> None:
    saga = await make_saga(2, compensate_failed_step=False)
    store = PgLeaseStore(services.pool)
    (first,) = await store.lease_available("w1", 5, 30)
    await store.finish_attempts(
        "w1", [FinishedAttempt(first.id, first.attempt_id, outcome.SUCCEEDED)]
    )
    (second,) = await store.lease_available("w1", 5, 30)
    await store.finish_attempts("w1", [FinishedAttempt(second.id, second.attempt_id, DEAD)])

    await services.tasks.request_cancel(saga.tenant_id, saga.id)  # the task route's cancel
    assert await statuses(conn, saga.id) == [("Succeeded", "Queued"), ("DeadLetter", None)]
    (undo,) = await store.lease_available("w1", 5, 30)
    await store.finish_attempts(
        "w1", [FinishedAttempt(undo.id, undo.attempt_id, outcome.SUCCEEDED)]
    )
    cursor = await conn.execute(
        "SELECT status::text, phase FROM saga_progress WHERE saga_id = %s", (saga.id,)
    )
    # It was compensated all the same; the cancel shows only in its final status.
    assert await cursor.fetchone() == ("Cancelled", "compensated")


async def test_a_released_step_still_waits_for_its_own_start_time(
    conn: Conn, services: Services, tenant: Any
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    steps = [
        SagaStep(EnqueueTask(tenant_id=tenant, type="demo.noop")),
        SagaStep(EnqueueTask(tenant_id=tenant, type="demo.noop", scheduled_at=later)),
    ]
    created = await create_saga(
        CreateSaga(tenant_id=tenant, steps=steps), sagas=PgSagaStore(services.pool)
    )
    store = PgLeaseStore(services.pool)
    (first,) = await store.lease_available("w1", 5, 30)
    await store.finish_attempts(
        "w1", [FinishedAttempt(first.id, first.attempt_id, outcome.SUCCEEDED)]
    )
    cursor = await conn.execute(
        "SELECT status::text, scheduled_at FROM tasks WHERE id = %s",
        (created.saga.steps[1].task_id,),
    )
    status, scheduled_at = await cursor.fetchone() or (None, None)
    assert status == "Queued" and abs((scheduled_at - later).total_seconds()) < 1
    assert await store.lease_available("w1", 5, 30) == []
