"""A batch's and a saga's own events reach RabbitMQ through the outbox, in order per
batch or saga, under their routing keys (task.batch_completed, task.saga_started, …)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from app.application.relay import Relay
from app.application.sagas import SagaStep
from app.queue import EnqueueTask, HandlerRegistry, Queue, TaskContext, TaskStatus
from tests.relay.test_relay import drain


async def test_batch_and_saga_events_are_published_in_order(
    database_url: str, relay: Relay, bind: Any
) -> None:
    batches = bind("task.batch_created"), bind("task.batch_completed")
    consumer = bind("task.#")
    registry = HandlerRegistry()

    @registry.handler("greet")
    async def greet(ctx: TaskContext) -> dict[str, Any]:
        return {"greeted": True}

    async with Queue.connect(database_url) as queue:
        tenant = await queue.ensure_tenant("acme")

        def task(kind: str) -> EnqueueTask:
            return EnqueueTask(tenant_id=tenant, type=kind)

        batch = await queue.enqueue_batch(
            tenant, [task("greet"), task("greet")], on_complete=task("greet")
        )
        saga = await queue.enqueue_saga(
            tenant, [SagaStep(task("greet"), name="one"), SagaStep(task("greet"), name="two")]
        )
        stop = asyncio.Event()
        worker = asyncio.create_task(queue.run_worker(registry, stop=stop, concurrency=4))
        for _ in range(300):
            done_batch = await queue.get_batch(tenant, batch.id)
            done_saga = await queue.get_saga(tenant, saga.id)
            if (
                done_batch.status is TaskStatus.SUCCEEDED
                and done_saga.status is TaskStatus.SUCCEEDED
            ):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(worker, timeout=15)
    assert done_saga.status is TaskStatus.SUCCEEDED
    published = await drain(relay)
    assert published > 0, published

    received = [body for _, body in consumer.take(200, timeout=3)]
    batch_events = [e for e in received if e["eventType"].startswith("Batch")]
    assert [e["eventType"] for e in batch_events] == ["BatchCreated", "BatchCompleted"]
    assert {e["taskId"] for e in batch_events} == {str(batch.id)}
    assert [e["sequence"] for e in batch_events] == sorted(e["sequence"] for e in batch_events)

    saga_events = [e for e in received if e["eventType"].startswith("Saga")]
    types = [e["eventType"] for e in saga_events]
    assert types[0] == "SagaStarted" and types[-1] == "SagaCompleted"
    assert "SagaStepReleased" in types
    assert {saga_events[0]["taskId"], saga_events[-1]["taskId"]} == {str(saga.id)}
    assert uuid.UUID(saga_events[0]["tenantId"]) == tenant
    # Bound by their own routing keys, integrations get exactly those.
    created, completed = (queue.take(5, timeout=1) for queue in batches)
    assert [body["eventType"] for _, body in created] == ["BatchCreated"]
    assert [body["eventType"] for _, body in completed] == ["BatchCompleted"]
