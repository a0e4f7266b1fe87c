"""Enqueueing: durable with its event, idempotent per tenant, and the outbox message it makes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from app.application.task_repository import EnqueueTask
from app.application.tasks import (
    IdempotencyConflict,
    TaskAlreadyFinished,
    TaskNotFound,
    cancel_task,
    enqueue_task,
    enqueue_tasks,
)
from app.bootstrap import Services
from app.domain.enums import CapabilityType, DomainType, TaskStatus
from tests.factories import insert_tenant

Conn = psycopg.AsyncConnection[Any]


def command(tenant: uuid.UUID, **fields: Any) -> EnqueueTask:
    return EnqueueTask(tenant_id=tenant, type="demo.noop", payload={"prompt": "hi"}, **fields)


async def count(conn: Conn, sql: str) -> int:
    row = await (await conn.execute(sql)).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


async def test_an_enqueued_task_is_queued_with_its_event_and_outbox_message(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    result = await enqueue_task(
        command(
            tenant,
            domain_type=DomainType.CUSTOMER_SUPPORT,
            capability_type=CapabilityType.LLM_GENERATION,
            correlation_id="order-7",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        tasks=services.tasks,
    )
    assert result.created
    task = await services.tasks.get(tenant, result.task_id)
    assert task is not None
    assert (task.status, task.priority, task.version) == (TaskStatus.QUEUED, 5, 1)
    assert task.capability_type is CapabilityType.LLM_GENERATION
    # The outbox holds a pointer to the event; what the relay publishes is its content.
    cursor = await conn.execute("SELECT content FROM outbox_messages")
    [(message,)] = await cursor.fetchall()
    assert message["eventType"] == "TaskQueued"
    assert message["taskId"] == str(result.task_id)
    assert message["tenantId"] == str(tenant)
    assert message["attempt"] == 0
    assert message["correlationId"] == "order-7"
    assert message["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert message["sequence"] == 1
    assert message["type"] == "demo.noop"
    assert "payload" not in message and "hi" not in str(message)


async def test_task_ids_are_time_ordered_uuid7(services: Services, tenant: uuid.UUID) -> None:
    results = await enqueue_tasks([command(tenant) for _ in range(5)], tasks=services.tasks)
    ids = [r.task_id for r in results]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids, key=lambda i: i.int >> 80)


async def test_the_same_key_and_body_returns_the_same_task(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    first = await enqueue_task(command(tenant, idempotency_key="k-1"), tasks=services.tasks)
    again = await enqueue_task(command(tenant, idempotency_key="k-1"), tasks=services.tasks)
    assert (again.task_id, again.created) == (first.task_id, False)
    assert await count(conn, "SELECT count(*) FROM tasks") == 1
    assert await count(conn, "SELECT count(*) FROM task_events") == 1


async def test_the_same_key_with_another_body_is_a_conflict(
    services: Services, tenant: uuid.UUID
) -> None:
    await enqueue_task(command(tenant, idempotency_key="k-1"), tasks=services.tasks)
    with pytest.raises(IdempotencyConflict, match="k-1"):
        await enqueue_task(command(tenant, idempotency_key="k-1", priority=1), tasks=services.tasks)


async def test_keys_are_scoped_per_tenant(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    other = await insert_tenant(conn)
    a = await enqueue_task(command(tenant, idempotency_key="k"), tasks=services.tasks)
    b = await enqueue_task(command(other, idempotency_key="k"), tasks=services.tasks)
    assert a.task_id != b.task_id and a.created and b.created


async def test_two_concurrent_first_requests_make_one_task(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    results = await asyncio.gather(
        *(
            enqueue_task(command(tenant, idempotency_key="race"), tasks=services.tasks)
            for _ in range(8)
        )
    )
    assert len({r.task_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await count(conn, "SELECT count(*) FROM tasks") == 1


async def test_a_batch_is_all_or_nothing(conn: Conn, services: Services, tenant: uuid.UUID) -> None:
    batch = [command(tenant), command(tenant), command(tenant, priority=42)]
    with pytest.raises(psycopg.errors.CheckViolation):
        await enqueue_tasks(batch, tasks=services.tasks)
    assert await count(conn, "SELECT count(*) FROM tasks") == 0
    assert await count(conn, "SELECT count(*) FROM pgmq.q_outbox") == 0


async def test_cancelling_a_finished_task_says_so(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    result = await enqueue_task(command(tenant), tasks=services.tasks)
    assert await cancel_task(tenant, result.task_id, tasks=services.tasks) is TaskStatus.CANCELLED
    with pytest.raises(TaskAlreadyFinished, match="Cancelled"):
        await cancel_task(tenant, result.task_id, tasks=services.tasks)


async def test_another_tenants_task_cannot_be_cancelled(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    result = await enqueue_task(command(tenant), tasks=services.tasks)
    stranger = await insert_tenant(conn)
    with pytest.raises(TaskNotFound):
        await cancel_task(stranger, result.task_id, tasks=services.tasks)
    task = await services.tasks.get(tenant, result.task_id)
    assert task is not None and task.status is TaskStatus.QUEUED
