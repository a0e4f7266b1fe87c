"""Batches from the Python library: inside the caller's own transaction, run by a worker."""

from __future__ import annotations

import asyncio

import psycopg

from app.queue import EnqueueTask, HandlerRegistry, Queue, TaskContext, TaskStatus


async def test_a_batch_enqueued_in_the_callers_transaction_rolls_back_with_it(
    database_url: str,
) -> None:
    async with Queue.connect(database_url) as queue:
        tenant = await queue.ensure_tenant("acme")
        tasks = [EnqueueTask(tenant_id=tenant, type="greet") for _ in range(3)]
        conn = await psycopg.AsyncConnection.connect(database_url)
        async with conn, conn.transaction(force_rollback=True):
            batch = await queue.enqueue_batch(tenant, tasks, connection=conn)
            assert batch.total == 3  # visible inside the caller's transaction
        async with await psycopg.AsyncConnection.connect(database_url) as check:
            found = await (await check.execute("SELECT count(*) FROM tasks")).fetchone()
        assert found == (0,)


async def test_a_batch_enqueued_from_python_runs_and_calls_back(database_url: str) -> None:
    registry = HandlerRegistry()
    summaries: list[dict[str, object]] = []

    @registry.handler("greet")
    async def greet(ctx: TaskContext) -> None:
        pass

    @registry.handler("report")
    async def report(ctx: TaskContext) -> None:
        summaries.append(ctx.payload["batch"])

    async with Queue.connect(database_url) as queue:
        tenant = await queue.ensure_tenant("acme")
        conn = await psycopg.AsyncConnection.connect(database_url)
        async with conn, conn.transaction():
            batch = await queue.enqueue_batch(
                tenant,
                [EnqueueTask(tenant_id=tenant, type="greet") for _ in range(4)],
                on_complete=EnqueueTask(tenant_id=tenant, type="report"),
                connection=conn,
            )
        stop = asyncio.Event()
        worker = asyncio.create_task(queue.run_worker(registry, stop=stop, concurrency=2))
        for _ in range(200):
            if summaries:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(worker, timeout=15)
        done = await queue.get_batch(tenant, batch.id)
    assert done.status is TaskStatus.SUCCEEDED and done.succeeded == 4
    assert [s["succeeded"] for s in summaries] == [4]
