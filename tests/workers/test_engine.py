"""The queue engine against the real Postgres: outcomes, retries, cancel, shutdown, order."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.application.tasks import cancel_task
from app.bootstrap import Services
from app.domain.enums import TaskStatus
from app.domain.task import can_transition
from tests.workers.conftest import (
    Enqueue,
    StartWorker,
    attempts_of,
    events_of,
    wait_for_status,
)

Conn = psycopg.AsyncConnection[Any]


async def test_tasks_run_once_and_succeed_with_full_bookkeeping(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    ids = await enqueue("demo.noop", count=40)
    await start_worker()
    await wait_for_status(conn, ids, {"Succeeded"})
    for task_id in ids[:5]:
        [attempt] = await attempts_of(conn, task_id)
        assert attempt[:3] == (1, "Succeeded", None)
        assert [e[1:] for e in await events_of(conn, task_id)] == [
            ("TaskQueued", "Queued"),
            ("TaskRunning", "Running"),
            ("TaskSucceeded", "Succeeded"),
        ]
    row = await (
        await conn.execute(
            "SELECT count(*) FILTER (WHERE locked_by IS NOT NULL), min(progress), "
            "count(*) FILTER (WHERE finished_at IS NULL) FROM tasks"
        )
    ).fetchone()
    assert row == (0, 100, 0)
    outbox = await (
        await conn.execute("SELECT count(*) FROM outbox_messages WHERE status = 'Pending'")
    ).fetchone()
    assert outbox == (40 * 3,)  # every event waits in the outbox for the relay


async def test_a_result_is_stored_as_an_artifact(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue("demo.sleep", payload={"seconds": 0})
    await start_worker()
    await wait_for_status(conn, [task_id], {"Succeeded"})
    cursor = await conn.execute(
        "SELECT kind, content, content_type FROM task_artifacts WHERE task_id = %s", (task_id,)
    )
    assert await cursor.fetchall() == [("result", '{"slept": 0.0}', "application/json")]


async def test_a_retryable_error_is_retried_after_its_backoff(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue(
        "demo.flaky",
        payload={"failTimes": 2},
        retry_policy={"baseSeconds": 0.6, "factor": 2, "maxSeconds": 10},
    )
    await start_worker(worker_poll_interval_seconds=5)
    await wait_for_status(conn, [task_id], {"Succeeded"})
    attempts = await attempts_of(conn, task_id)
    assert [a[:3] for a in attempts] == [
        (1, "Failed", "Flaky"),
        (2, "Failed", "Flaky"),
        (3, "Succeeded", None),
    ]
    first_gap = attempts[1][3] - attempts[0][4]
    second_gap = attempts[2][3] - attempts[1][4]
    # Full jitter of 50 %: the waits are within [0.3, 0.6] s and then [0.6, 1.2] s, and the
    # worker wakes for its own retries instead of waiting for the 5 s poll.
    assert timedelta(seconds=0.29) <= first_gap <= timedelta(seconds=1.0)
    assert timedelta(seconds=0.59) <= second_gap <= timedelta(seconds=1.6)


async def test_retry_after_from_the_error_wins_when_later(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue(
        "demo.flaky", payload={"failTimes": 1, "retryAfter": 1.5}, retry_policy={"baseSeconds": 0.1}
    )
    await start_worker()
    await wait_for_status(conn, [task_id], {"Succeeded"})
    first, second = await attempts_of(conn, task_id)
    assert second[3] - first[4] >= timedelta(seconds=1.45)


async def test_attempts_exhausted_end_in_dead_letter(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue(
        "demo.flaky", payload={"failTimes": 10}, max_attempts=3, retry_policy={"baseSeconds": 0.05}
    )
    await start_worker()
    await wait_for_status(conn, [task_id], {"DeadLetter"})
    assert [a[1] for a in await attempts_of(conn, task_id)] == ["Failed"] * 3
    row = await (
        await conn.execute("SELECT last_error, attempt_count FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    assert row == ("flaky failure 3 of 10", 3)


async def test_a_non_recoverable_error_dead_letters_at_once(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue("demo.fail", payload={"message": "invalid input"}, max_attempts=5)
    await start_worker()
    await wait_for_status(conn, [task_id], {"DeadLetter"})
    assert [a[:3] for a in await attempts_of(conn, task_id)] == [(1, "Failed", "DemoFailure")]


async def test_a_task_with_no_handler_fails_clearly_without_retries(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue("nobody.handles.this", max_attempts=5)
    await start_worker()
    await wait_for_status(conn, [task_id], {"DeadLetter"})
    row = await (
        await conn.execute("SELECT last_error FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    assert row == ("no handler is registered for task type 'nobody.handles.this'",)
    assert [a[2] for a in await attempts_of(conn, task_id)] == ["NoHandler"]


async def test_a_handler_past_its_timeout_is_stopped_and_retried(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue(
        "demo.sleep", payload={"seconds": 30}, timeout_seconds=1, max_attempts=2
    )
    await start_worker()
    await wait_for_status(conn, [task_id], {"DeadLetter"}, within=20)
    attempts = await attempts_of(conn, task_id)
    assert [a[:3] for a in attempts] == [(1, "TimedOut", "Timeout"), (2, "TimedOut", "Timeout")]
    assert all(timedelta(seconds=0.9) < a[4] - a[3] < timedelta(seconds=3) for a in attempts)


async def test_cancelling_a_queued_task_means_it_never_runs(
    conn: Conn, services: Services, tenant: uuid.UUID, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue("demo.noop")
    assert await cancel_task(tenant, task_id, tasks=services.tasks) is TaskStatus.CANCELLED
    [other] = await enqueue("demo.noop")
    await start_worker()
    await wait_for_status(conn, [other], {"Succeeded"})
    assert await attempts_of(conn, task_id) == []
    assert (await wait_for_status(conn, [task_id], {"Cancelled"}))[task_id] == "Cancelled"


async def test_cancelling_a_running_task_stops_its_handler_quickly(
    conn: Conn, services: Services, tenant: uuid.UUID, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue("demo.sleep", payload={"seconds": 60})
    await start_worker()
    await wait_for_status(conn, [task_id], {"Running"})
    asked = time.monotonic()
    assert await cancel_task(tenant, task_id, tasks=services.tasks) is TaskStatus.RUNNING
    await wait_for_status(conn, [task_id], {"Cancelled"}, within=5)
    assert time.monotonic() - asked < 2
    assert [a[1] for a in await attempts_of(conn, task_id)] == ["Cancelled"]


async def test_graceful_shutdown_hands_running_tasks_back_at_once(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue("demo.sleep", payload={"seconds": 60})
    first = await start_worker(worker_shutdown_grace_seconds=0.2)
    await wait_for_status(conn, [task_id], {"Running"})
    stopping = time.monotonic()
    await first.stop()
    await wait_for_status(conn, [task_id], {"Queued"})
    assert time.monotonic() - stopping < 3
    row = await (
        await conn.execute("SELECT attempt_count, locked_by FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    assert row == (0, None)  # the released attempt does not count
    assert [a[1] for a in await attempts_of(conn, task_id)] == ["Released"]


async def test_higher_priority_runs_first(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    low = await enqueue("demo.noop", count=5, priority=9)
    high = await enqueue("demo.noop", count=5, priority=1)
    middle = await enqueue("demo.noop", count=5, priority=5)
    await start_worker(worker_concurrency=1)
    await wait_for_status(conn, low + high + middle, {"Succeeded"})
    # Attempt ids are drawn in claim order; started_at is derived from a measured run
    # time, so two attempts a few microseconds apart may swap on it.
    cursor = await conn.execute("SELECT a.task_id FROM task_attempts a ORDER BY a.id")
    order = [row[0] for row in await cursor.fetchall()]
    assert set(order[:5]) == set(high)
    assert set(order[5:10]) == set(middle)
    assert set(order[10:]) == set(low)


async def test_an_idle_worker_starts_new_work_on_notify_not_on_poll(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    await start_worker(worker_poll_interval_seconds=30)
    await asyncio.sleep(0.5)  # the worker is idle, listening
    delays = []
    for _ in range(5):
        posted = time.monotonic()
        [task_id] = await enqueue("demo.noop")
        await wait_for_status(conn, [task_id], {"Succeeded"}, within=5)
        delays.append(time.monotonic() - posted)
    assert max(delays) < 1.0, delays


async def test_progress_is_coalesced_and_visible_while_running(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    registry = HandlerRegistry()
    release = asyncio.Event()

    @registry.handler("test.progress")
    async def chatty(ctx: TaskContext) -> None:
        for step in range(1, 201):
            ctx.update(state=f"step {step}", progress=step // 4, metadata={"step": step})
        await release.wait()

    [task_id] = await enqueue("test.progress")
    await start_worker(registry)
    for _ in range(100):
        row = await (
            await conn.execute(
                "SELECT progress, state, metadata FROM tasks WHERE id = %s", (task_id,)
            )
        ).fetchone()
        if row and row[0] == 50:
            break
        await asyncio.sleep(0.05)
    assert row == (50, "step 200", {"step": 200})
    release.set()
    await wait_for_status(conn, [task_id], {"Succeeded"})
    progressed = [e for e in await events_of(conn, task_id) if e[1] == "TaskProgressed"]
    assert 1 <= len(progressed) <= 3  # 200 updates, a handful of writes


async def test_a_thread_handler_does_not_stall_the_event_loop(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    registry = HandlerRegistry()

    @registry.handler("test.blocking")
    def blocking(ctx: TaskContext) -> str:
        time.sleep(1.5)
        return "done"

    [slow] = await enqueue("test.blocking")
    await start_worker(registry, worker_concurrency=4)
    await wait_for_status(conn, [slow], {"Running"})
    fast = await enqueue("demo.noop", count=3)
    started = time.monotonic()
    await wait_for_status(conn, fast, {"Succeeded"}, within=5)
    assert time.monotonic() - started < 1.0
    await wait_for_status(conn, [slow], {"Succeeded"})


def cpu_bound_square(payload: dict[str, Any]) -> dict[str, int]:
    return {"sum": sum(i * i for i in range(int(payload["n"]))), "pid": os.getpid()}


async def test_a_process_handler_runs_in_a_process_pool(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    registry = HandlerRegistry()
    registry.register("test.cpu", cpu_bound_square, executor="process")
    [task_id] = await enqueue("test.cpu", payload={"n": 1000})
    await start_worker(registry)
    await wait_for_status(conn, [task_id], {"Succeeded"})
    cursor = await conn.execute("SELECT content FROM task_artifacts WHERE task_id = %s", (task_id,))
    [(content,)] = await cursor.fetchall()
    result = json.loads(content)
    assert result["sum"] == sum(i * i for i in range(1000))
    assert result["pid"] != os.getpid()  # it ran in another process


async def test_every_recorded_state_change_is_allowed_by_the_state_machine(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    ids = [
        *await enqueue("demo.noop", count=5),
        *await enqueue("demo.flaky", payload={"failTimes": 1}, retry_policy={"baseSeconds": 0.05}),
        *await enqueue(
            "demo.flaky",
            payload={"failTimes": 9},
            max_attempts=2,
            retry_policy={"baseSeconds": 0.05},
        ),
        *await enqueue("demo.fail"),
    ]
    await start_worker()
    await wait_for_status(conn, ids, {"Succeeded", "DeadLetter"})
    for task_id in ids:
        statuses = [TaskStatus(e[2]) for e in await events_of(conn, task_id)]
        assert statuses[0] is TaskStatus.QUEUED
        for before, after in itertools.pairwise(statuses):
            assert before == after or can_transition(before, after), (task_id, statuses)


async def test_usage_and_artifacts_reported_by_a_handler_are_recorded(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    registry = HandlerRegistry()

    @registry.handler("test.ai")
    async def ai(ctx: TaskContext) -> dict[str, str]:
        ctx.report_usage(
            model="gpt-4o-mini", tokens_in=120, tokens_out=30, cost=0.0009, latency_ms=850
        )
        await ctx.add_artifact("text", content="a summary", name="summary.txt")
        await ctx.add_artifact("link", uri="https://example.invalid/report.pdf")
        return {"label": "ok"}

    [task_id] = await enqueue("test.ai")
    await start_worker(registry)
    await wait_for_status(conn, [task_id], {"Succeeded"})
    cursor = await conn.execute(
        "SELECT model, tokens_in, tokens_out, cost::float, latency_ms, worker_id IS NOT NULL "
        "FROM task_attempts WHERE task_id = %s",
        (task_id,),
    )
    assert await cursor.fetchall() == [("gpt-4o-mini", 120, 30, 0.0009, 850, True)]
    cursor = await conn.execute(
        "SELECT kind, name, content, uri FROM task_artifacts WHERE task_id = %s",
        (task_id,),
    )
    assert sorted(await cursor.fetchall(), key=lambda r: r[0]) == [
        ("link", None, None, "https://example.invalid/report.pdf"),
        ("result", "result.json", '{"label": "ok"}', None),
        ("text", "summary.txt", "a summary", None),
    ]


async def test_the_attempt_latency_is_measured_when_the_handler_does_not_report_it(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    [task_id] = await enqueue("demo.sleep", payload={"seconds": 0.3})
    await start_worker()
    await wait_for_status(conn, [task_id], {"Succeeded"})
    row = await (
        await conn.execute("SELECT latency_ms FROM task_attempts WHERE task_id = %s", (task_id,))
    ).fetchone()
    assert row is not None and 280 <= row[0] < 2000


async def test_nonsense_usage_never_blocks_the_outcome(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    registry = HandlerRegistry()

    @registry.handler("test.weird")
    async def weird(ctx: TaskContext) -> str:
        ctx.report_usage(model="bad\x00model", tokens_in=-5, tokens_out=2**40, cost=1e12)
        return "fine\x00"

    ids = [*await enqueue("test.weird"), *await enqueue("demo.noop", count=3)]
    await start_worker(registry)
    await wait_for_status(conn, ids, {"Succeeded"})
    cursor = await conn.execute(
        "SELECT model, tokens_in, tokens_out, cost FROM task_attempts WHERE task_id = %s", (ids[0],)
    )
    assert await cursor.fetchall() == [("badmodel", None, None, None)]


async def test_a_thread_handler_past_its_timeout_keeps_its_lease_until_it_returns(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    registry = HandlerRegistry()

    @registry.handler("test.stubborn", timeout=0.3)
    def stubborn(ctx: TaskContext) -> None:
        time.sleep(1.2)  # a thread cannot be stopped from outside

    [task_id] = await enqueue("test.stubborn", max_attempts=1)
    await start_worker(registry)
    await wait_for_status(conn, [task_id], {"DeadLetter"})
    [attempt] = await attempts_of(conn, task_id)
    assert attempt[1:3] == ("TimedOut", "Timeout")
    # The attempt (and its lease) lasted until the thread really returned.
    assert attempt[4] - attempt[3] >= timedelta(seconds=1.1)
