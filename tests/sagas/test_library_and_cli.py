"""Sagas from the Python library (inside the caller's transaction, run by a worker) and
as a tree in `assistente tasks show`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner

from app.cli import main
from app.queue import EnqueueTask, HandlerRegistry, Queue, SagaStep, TaskContext, TaskStatus


async def test_a_saga_enqueued_in_the_callers_transaction_rolls_back_with_it(
    database_url: str,
) -> None:
    async with Queue.connect(database_url) as queue:
        tenant = await queue.ensure_tenant("acme")
        steps = [SagaStep(EnqueueTask(tenant_id=tenant, type="book")) for _ in range(2)]
        conn = await psycopg.AsyncConnection.connect(database_url)
        async with conn, conn.transaction(force_rollback=True):
            saga = await queue.enqueue_saga(tenant, steps, connection=conn)
            assert len(saga.steps) == 2  # visible inside the caller's transaction
        async with await psycopg.AsyncConnection.connect(database_url) as check:
            found = await (await check.execute("SELECT count(*) FROM tasks")).fetchone()
        assert found == (0,)


async def test_a_saga_from_python_passes_a_result_on_and_compensates_in_reverse(
    database_url: str,
) -> None:
    registry = HandlerRegistry()
    seen: list[tuple[str, Any]] = []

    @registry.handler("book")
    async def book(ctx: TaskContext) -> dict[str, Any]:
        seen.append(("book", ctx.payload.get("after")))
        return {"booking": f"B{len(seen)}"}

    @registry.handler("pay")
    async def pay(ctx: TaskContext) -> None:
        raise ValueError("card declined")

    @registry.handler("unbook")
    async def unbook(ctx: TaskContext) -> None:
        seen.append(("unbook", ctx.payload["booking"]))

    async with Queue.connect(database_url) as queue:
        tenant = await queue.ensure_tenant("acme")

        def task(task_type: str, **payload: Any) -> EnqueueTask:
            return EnqueueTask(tenant_id=tenant, type=task_type, payload=payload, max_attempts=1)

        steps = [
            SagaStep(task("book"), task("unbook", booking={"$fromStep": 0, "path": "booking"})),
            SagaStep(
                task("book", after={"$fromStep": "first"}),
                task("unbook", booking={"$fromStep": 1, "path": "booking"}),
            ),
            SagaStep(task("pay")),
        ]
        steps[0] = SagaStep(steps[0].task, steps[0].compensation, name="first")
        saga = await queue.enqueue_saga(tenant, steps)
        stop = asyncio.Event()
        worker = asyncio.create_task(queue.run_worker(registry, stop=stop, concurrency=2))
        for _ in range(300):
            done = await queue.get_saga(tenant, saga.id)
            if done.status is TaskStatus.DEAD_LETTER:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(worker, timeout=15)
    assert done.status is TaskStatus.DEAD_LETTER and done.failed_step == 2
    assert seen == [("book", None), ("book", {"booking": "B1"}), ("unbook", "B2"), ("unbook", "B1")]


async def test_a_saga_is_shown_as_a_tree_of_steps_and_compensations(
    database_url: str, tmp_path: Path
) -> None:
    async with Queue.connect(database_url) as queue:
        tenant = await queue.ensure_tenant("acme")
        book = EnqueueTask(tenant_id=tenant, type="book")
        saga = await queue.enqueue_saga(
            tenant, [SagaStep(book, EnqueueTask(tenant_id=tenant, type="unbook")), SagaStep(book)]
        )
    env = {"DATABASE_URL": database_url, "LOG_DIR": str(tmp_path), "LOG_CONSOLE": "false"}
    args = ["tasks", "show", str(saga.id), "--tenant", str(tenant)]
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"saga {saga.id}  Created  running"
    assert lines[1].startswith("├─ step 0  ") and lines[1].endswith("book  Queued")
    assert lines[2] == "│  └─ compensation unbook (not run)"
    assert lines[3].startswith("└─ step 1  ") and lines[3].endswith("book  Created")
    assert len(lines) == 4
