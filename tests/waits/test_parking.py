"""A running handler that asks for input or a signal parks its task and runs again with
the answer: no lease, no worker slot, no attempt used while it waits."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import psycopg

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.domain import waits
from tests.waits.conftest import decide, send_signal, wait_row
from tests.workers.conftest import (
    Enqueue,
    StartWorker,
    attempts_of,
    events_of,
    wait_for_status,
)

Conn = psycopg.AsyncConnection[Any]


def asking_registry(runs: list[int]) -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.handler("refund")
    async def refund(ctx: TaskContext) -> dict[str, Any]:
        runs.append(ctx.attempt)
        ctx.update(state="checked")  # work before the question runs again on resume
        decision = ctx.request_input(
            "Refund 120 EUR?", schema={"type": "object", "required": ["amount"]}, timeout=600
        )
        return {"approved": decision.approved, "input": decision.input, "by": decision.decided_by}

    @registry.handler("await_payment")
    async def await_payment(ctx: TaskContext) -> dict[str, Any]:
        signal = ctx.wait_for_signal("payment", ctx.payload["order"], timeout=600)
        assert signal is not None
        return {"paid": signal.data}

    return registry


async def result_of(conn: Conn, task_id: uuid.UUID) -> Any:
    cursor = await conn.execute(
        "SELECT content FROM task_artifacts WHERE task_id = %s AND kind = 'result'", (task_id,)
    )
    row = await cursor.fetchone()
    assert row is not None
    return json.loads(row[0])


async def parked(conn: Conn, task_id: uuid.UUID) -> None:
    await wait_for_status(conn, [task_id], {"Created"})
    for _ in range(100):
        if await wait_row(conn, task_id) is not None:
            return
        await asyncio.sleep(0.05)


async def test_a_handler_asks_a_person_and_runs_again_with_the_answer(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tenant: uuid.UUID
) -> None:
    runs: list[int] = []
    await start_worker(asking_registry(runs))
    [task_id] = await enqueue("refund")
    await parked(conn, task_id)

    row = await conn.execute(
        "SELECT wait_reason, locked_by, attempt_count, resume FROM tasks WHERE id = %s",
        (task_id,),
    )
    assert await row.fetchone() == ("input", None, 0, None)  # no lease, no attempt used
    kind, key, question, *_ = await wait_row(conn, task_id) or ()
    assert (kind, question) == ("input", "Refund 120 EUR?")
    assert key == waits.input_key("Refund 120 EUR?", None)

    assert (await decide(conn, tenant, task_id, input={"amount": 120}))[:2] == (
        "decided",
        "Queued",
    )
    await wait_for_status(conn, [task_id], {"Succeeded"})
    assert await result_of(conn, task_id) == {
        "approved": True,
        "input": {"amount": 120},
        "by": "ana",
    }
    assert runs == [1, 1]  # ran twice, and the wait did not use an attempt
    statuses = [status for _, status, *_ in await attempts_of(conn, task_id)]
    assert statuses == ["Released", "Succeeded"]
    timeline = [e for _, e, _ in await events_of(conn, task_id) if e != "TaskProgressed"]
    assert timeline == [
        "TaskQueued",
        "TaskRunning",
        "TaskAwaitingInput",
        "TaskDecided",
        "TaskRunning",
        "TaskSucceeded",
    ]
    assert await wait_row(conn, task_id) is None


async def test_a_second_decision_and_a_decision_on_a_task_not_waiting_change_nothing(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tenant: uuid.UUID
) -> None:
    await start_worker(asking_registry([]))
    [task_id] = await enqueue("refund")
    await parked(conn, task_id)
    assert (await decide(conn, tenant, task_id, "reject"))[0] == "decided"
    assert (await decide(conn, tenant, task_id, "approve"))[0] == "not_waiting"
    await wait_for_status(conn, [task_id], {"Succeeded"})
    assert (await result_of(conn, task_id))["approved"] is False
    assert (await decide(conn, tenant, uuid.uuid4()))[0] == "not_found"
    assert (await decide(conn, uuid.uuid4(), task_id))[0] == "not_found"  # another tenant


async def test_a_signal_after_the_wait_resumes_the_task(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tenant: uuid.UUID
) -> None:
    await start_worker(asking_registry([]))
    [task_id] = await enqueue("await_payment", payload={"order": "o-1"})
    await parked(conn, task_id)
    assert await send_signal(conn, tenant, "payment", "o-2", {"eur": 1}) == (True, 0)
    assert await send_signal(conn, tenant, "payment", "o-1", {"eur": 120}) == (True, 1)
    await wait_for_status(conn, [task_id], {"Succeeded"})
    assert await result_of(conn, task_id) == {"paid": {"eur": 120}}


async def test_a_signal_before_the_wait_is_kept_and_answers_it_at_once(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tenant: uuid.UUID
) -> None:
    assert await send_signal(conn, tenant, "payment", "o-9", {"eur": 9}) == (True, 0)
    await start_worker(asking_registry([]))
    [task_id] = await enqueue("await_payment", payload={"order": "o-9"})
    await wait_for_status(conn, [task_id], {"Succeeded"})
    assert await result_of(conn, task_id) == {"paid": {"eur": 9}}
    events = [e for _, e, _ in await events_of(conn, task_id)]
    assert events[2:4] == ["TaskAwaitingSignal", "TaskSignalled"]


async def test_another_tenants_signal_resumes_nothing(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tenant: uuid.UUID
) -> None:
    await start_worker(asking_registry([]))
    [task_id] = await enqueue("await_payment", payload={"order": "o-3"})
    await parked(conn, task_id)
    other = uuid.uuid4()
    await conn.execute("INSERT INTO tenants (id, name) VALUES (%s, 'other')", (other,))
    assert await send_signal(conn, other, "payment", "o-3", {}) == (True, 0)
    status = await conn.execute("SELECT status::text FROM tasks WHERE id = %s", (task_id,))
    assert await status.fetchone() == ("Created",)


async def test_what_a_handler_reported_before_it_parked_is_kept_when_it_resumes(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, tenant: uuid.UUID
) -> None:
    registry = HandlerRegistry()

    @registry.handler("two_steps")
    async def two_steps(ctx: TaskContext) -> str:
        if not ctx.resume:
            ctx.update(state="drafted", progress=40, metadata={"draft": "v1"})
            await ctx.add_artifact("text", content="first draft", name="draft.txt")
        ctx.request_input("Publish the draft?")
        return "published"

    await start_worker(registry)
    [task_id] = await enqueue("two_steps")
    await parked(conn, task_id)
    await decide(conn, tenant, task_id)
    await wait_for_status(conn, [task_id], {"Succeeded"})
    row = await conn.execute(
        "SELECT state, metadata->>'draft', (SELECT count(*) FROM task_artifacts a"
        " WHERE a.task_id = t.id AND a.name = 'draft.txt') FROM tasks t WHERE id = %s",
        (task_id,),
    )
    assert await row.fetchone() == ("drafted", "v1", 1)
