"""The engine's fast paths behave like the plain ones: burst mode, tasks leased ahead
of free slots, and attempt rows written once at the end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.application.tasks import cancel_task
from app.bootstrap import Services, build_worker
from app.domain.enums import TaskStatus
from tests.workers.conftest import (
    Enqueue,
    StartWorker,
    attempts_of,
    events_of,
    fast_settings,
    wait_for_status,
)

Conn = psycopg.AsyncConnection[Any]


def gated_registry(gate: asyncio.Event, started: list[uuid.UUID]) -> HandlerRegistry:
    """`bench.gated` tasks wait for `gate`; each records that it started."""
    registry = HandlerRegistry()

    @registry.handler("bench.gated")
    async def gated(ctx: TaskContext) -> None:
        started.append(ctx.task_id)
        await gate.wait()

    return registry


async def statuses(conn: Conn, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    cursor = await conn.execute("SELECT id, status::text FROM tasks WHERE id = ANY(%s)", (ids,))
    return {row[0]: row[1] for row in await cursor.fetchall()}


async def held_ahead(conn: Conn, ids: list[uuid.UUID], count: int) -> list[uuid.UUID]:
    """Wait until one of `ids` runs and `count` are leased ahead (Reserved, not started);
    return the Reserved ones."""
    for _ in range(200):
        now = await statuses(conn, ids)
        reserved = sorted(i for i, status in now.items() if status == "Reserved")
        if len(reserved) == count and list(now.values()).count("Running") == 1:
            return reserved
        await asyncio.sleep(0.05)
    raise AssertionError(f"the worker did not lease ahead: {now}")


async def event_types(conn: Conn, task_id: uuid.UUID) -> list[str]:
    return [e[1] for e in await events_of(conn, task_id)]


async def test_a_burst_worker_runs_everything_due_then_exits_on_its_own(
    conn: Conn, enqueue: Enqueue, database_url: str, tmp_path: Any
) -> None:
    ids = await enqueue("demo.noop", count=300)
    [tomorrow] = await enqueue("demo.noop", scheduled_at=datetime.now(UTC) + timedelta(days=1))
    process = build_worker(fast_settings(log_dir=tmp_path), url=database_url, burst=True)
    await asyncio.wait_for(process.run(asyncio.Event()), timeout=30)  # returns by itself
    statuses = await wait_for_status(conn, ids, {"Succeeded"}, within=1)
    assert set(statuses.values()) == {"Succeeded"}
    assert (await wait_for_status(conn, [tomorrow], {"Queued"}, within=1))[tomorrow] == "Queued"
    cursor = await conn.execute("SELECT count(*) FROM task_attempts")
    assert await cursor.fetchone() == (300,)


async def test_tasks_leased_ahead_start_as_slots_free(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    gate, started = asyncio.Event(), []
    ids = await enqueue("bench.gated", count=3)
    await start_worker(gated_registry(gate, started), worker_concurrency=1, worker_prefetch=2)
    held = await held_ahead(conn, ids, 2)
    await asyncio.sleep(0.2)
    assert len(started) == 1  # one slot: the others wait, leased, without running
    assert started[0] not in held
    assert (await statuses(conn, held)) == {task_id: "Reserved" for task_id in held}
    for task_id in held:  # nothing is published, and no attempt shows, before they start
        assert await event_types(conn, task_id) == ["TaskQueued"]
        assert await attempts_of(conn, task_id) == []
    assert await event_types(conn, started[0]) == ["TaskQueued", "TaskRunning"]
    gate.set()
    await wait_for_status(conn, ids, {"Succeeded"})
    assert sorted(started) == sorted(ids)
    for task_id in ids:
        assert [a[:2] for a in await attempts_of(conn, task_id)] == [(1, "Succeeded")]
        assert await event_types(conn, task_id) == ["TaskQueued", "TaskRunning", "TaskSucceeded"]
        sequences = [e[0] for e in await events_of(conn, task_id)]
        assert sequences == [1, 2, 3]


async def test_a_cancel_for_a_task_leased_ahead_ends_it_without_running_it(
    conn: Conn, services: Services, tenant: uuid.UUID, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    gate, started = asyncio.Event(), []
    ids = await enqueue("bench.gated", count=2)
    await start_worker(gated_registry(gate, started), worker_concurrency=1, worker_prefetch=1)
    [waiting] = await held_ahead(conn, ids, 1)
    assert await cancel_task(tenant, waiting, tasks=services.tasks) is TaskStatus.RESERVED
    await wait_for_status(conn, [waiting], {"Cancelled"}, within=5)
    gate.set()
    await wait_for_status(conn, [task_id for task_id in ids if task_id != waiting], {"Succeeded"})
    assert waiting not in started
    assert await attempts_of(conn, waiting) == []  # it never ran
    assert await event_types(conn, waiting) == [
        "TaskQueued",
        "TaskCancelRequested",
        "TaskCancelled",
    ]


async def test_shutdown_hands_back_tasks_leased_ahead_without_using_an_attempt(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    gate, started = asyncio.Event(), []
    ids = await enqueue("bench.gated", count=3)
    worker = await start_worker(
        gated_registry(gate, started),
        worker_concurrency=1,
        worker_prefetch=2,
        worker_shutdown_grace_seconds=0.2,
    )
    held = await held_ahead(conn, ids, 2)
    await worker.stop()
    after = await wait_for_status(conn, ids, {"Queued"})
    assert set(after.values()) == {"Queued"}
    cursor = await conn.execute(
        "SELECT count(*) FROM tasks WHERE id = ANY(%s) AND attempt_count = 0 AND locked_by IS NULL",
        (ids,),
    )
    assert await cursor.fetchone() == (3,)
    [ran] = started
    assert [a[1] for a in await attempts_of(conn, ran)] == ["Released"]
    assert await event_types(conn, ran) == ["TaskQueued", "TaskRunning", "TaskReleased"]
    for task_id in held:  # never started: no attempt, nothing published
        assert await attempts_of(conn, task_id) == []
        assert await event_types(conn, task_id) == ["TaskQueued"]


async def test_a_running_attempt_is_on_its_task_and_its_row_is_written_when_it_ends(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    gate, started = asyncio.Event(), []
    [task_id] = await enqueue("bench.gated")
    await start_worker(gated_registry(gate, started))
    await wait_for_status(conn, [task_id], {"Running"})
    [running] = await attempts_of(conn, task_id)  # from task_attempts_current
    assert running[:2] == (1, "Running") and running[3] is not None and running[4] is None
    cursor = await conn.execute("SELECT count(*) FROM task_attempts WHERE task_id = %s", (task_id,))
    assert await cursor.fetchone() == (0,)
    gate.set()
    await wait_for_status(conn, [task_id], {"Succeeded"})
    [ended] = await attempts_of(conn, task_id)
    assert ended[:2] == (1, "Succeeded")
    assert ended[3] == running[3]  # the same start time, now with an end
    assert ended[4] is not None and ended[4] >= ended[3]


async def test_work_held_ahead_goes_back_when_tasks_turn_long(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    gate, started = asyncio.Event(), []
    registry = gated_registry(gate, started)

    @registry.handler("bench.fast")
    async def fast(ctx: TaskContext) -> None:
        return None

    quick = await enqueue("bench.fast", count=200, priority=1)
    slow = await enqueue("bench.gated", count=30, priority=2)
    most_reserved = 0

    async def watch_reserved() -> None:
        nonlocal most_reserved
        while True:
            reserved = list((await statuses(conn, slow)).values()).count("Reserved")
            most_reserved = max(most_reserved, reserved)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch_reserved())
    await start_worker(registry, worker_concurrency=10)
    await wait_for_status(conn, quick, {"Succeeded"})
    # Short tasks: the worker held slow ones ahead; once they run long, it hands the
    # held ones back instead of sitting on them while ten run.
    for _ in range(100):
        cursor = await conn.execute(
            "SELECT count(*) FROM tasks WHERE id = ANY(%s) AND status = 'Running'", (slow,)
        )
        if await cursor.fetchone() == (10,):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # a check of the running tasks' age (every 0.5 s)
    cursor = await conn.execute(
        "SELECT count(*) FROM tasks WHERE id = ANY(%s) AND status = 'Running'", (slow,)
    )
    assert await cursor.fetchone() == (10,)
    assert len(started) == 10
    watcher.cancel()
    now = list((await statuses(conn, slow)).values())
    assert most_reserved > 0  # some were held ahead...
    assert (now.count("Reserved"), now.count("Queued")) == (0, 20)  # ...and handed back
    gate.set()
    await wait_for_status(conn, slow, {"Succeeded"})
    cursor = await conn.execute(
        "SELECT status::text, count(*) FROM task_attempts WHERE task_id = ANY(%s) GROUP BY 1",
        (slow,),
    )
    assert await cursor.fetchall() == [("Succeeded", 30)]  # handed back unstarted: no attempt
