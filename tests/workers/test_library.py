"""The library surface: a user's own code registers handlers, enqueues and runs a worker."""

from __future__ import annotations

import asyncio
from typing import Any

from app.queue import HandlerRegistry, Queue, TaskContext, TaskStatus


async def test_register_enqueue_and_run_from_python(database_url: str) -> None:
    registry = HandlerRegistry()
    seen: list[Any] = []

    @registry.handler("greet")
    async def greet(ctx: TaskContext) -> dict[str, str]:
        seen.append(ctx.payload["name"])
        return {"greeting": f"hello {ctx.payload['name']}"}

    async with Queue.connect(database_url) as queue:
        tenant = await queue.ensure_tenant("acme")
        assert await queue.ensure_tenant("acme") == tenant
        task_id = await queue.enqueue(tenant, "greet", {"name": "Ana"}, priority=2)
        stop = asyncio.Event()
        worker = asyncio.create_task(queue.run_worker(registry, stop=stop, concurrency=2))
        for _ in range(200):
            task = await queue.get(tenant, task_id)
            if task and task.status is TaskStatus.SUCCEEDED:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(worker, timeout=15)
    assert task is not None and task.status is TaskStatus.SUCCEEDED
    assert task.priority == 2
    assert seen == ["Ana"]
