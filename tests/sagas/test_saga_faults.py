"""Faults and races: a step's outcome and the saga's move commit together or not at all."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import psycopg

from app.adapters.postgres.lease_store import PgLeaseStore
from app.application.ports import FinishedAttempt
from app.bootstrap import Services
from app.domain import outcome
from app.domain.enums import TaskStatus
from tests.batches.test_worker_killed import wait_for_blocked_settle
from tests.sagas.conftest import MakeSaga
from tests.workers.conftest import wait_for_status
from tests.workers.test_processes import spawn_worker

Conn = psycopg.AsyncConnection[Any]


async def saga_events(conn: Conn, saga_id: Any) -> list[str]:
    cursor = await conn.execute(
        "SELECT event_type FROM task_events WHERE task_id = %s ORDER BY sequence", (saga_id,)
    )
    return [row[0] for row in await cursor.fetchall()]


async def test_a_worker_killed_while_finishing_a_step_releases_nothing_until_it_is_redone(
    conn: Conn, database_url: str, tmp_path: Path, make_saga: MakeSaga
) -> None:
    saga = await make_saga(2, max_attempts=3)
    first, second = (s.task_id for s in saga.steps)
    # Hold the saga's group row: the worker's finish of step 0 runs, and its transaction
    # then waits in task_groups_settle, before it can commit.
    holder = await psycopg.AsyncConnection.connect(database_url)
    await holder.execute("BEGIN")
    await holder.execute("SELECT 1 FROM task_groups WHERE parent_id = %s FOR UPDATE", (saga.id,))
    worker = spawn_worker(database_url, tmp_path)
    try:
        await wait_for_blocked_settle(conn)
        worker.send_signal(signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.communicate(timeout=10)
    await holder.execute("ROLLBACK")
    await holder.close()

    cursor = await conn.execute(
        "SELECT id, status::text FROM tasks WHERE id = ANY(%s)", ([first, second],)
    )
    now = dict(await cursor.fetchall())
    assert now[first] in {"Reserved", "Running"} and now[second] == "Created"
    assert await saga_events(conn, saga.id) == ["SagaStarted"]

    replacement = spawn_worker(database_url, tmp_path)
    try:
        await wait_for_status(conn, [saga.id], {TaskStatus.SUCCEEDED.value}, within=30)
    finally:
        replacement.send_signal(signal.SIGTERM)
        replacement.communicate(timeout=30)
    assert await saga_events(conn, saga.id) == ["SagaStarted", "SagaStepReleased", "SagaCompleted"]


async def test_a_cancel_racing_the_last_steps_success_ends_the_saga_once(
    conn: Conn, services: Services, make_saga: MakeSaga
) -> None:
    for _ in range(5):
        saga = await make_saga(2)
        store = PgLeaseStore(services.pool)
        (first,) = await store.lease_available("w1", 5, 30)
        await store.finish_attempts(
            "w1", [FinishedAttempt(first.id, first.attempt_id, outcome.SUCCEEDED)]
        )
        (second,) = await store.lease_available("w1", 5, 30)
        finish = store.finish_attempts(
            "w1", [FinishedAttempt(second.id, second.attempt_id, outcome.SUCCEEDED)]
        )
        cancel = services.tasks.request_cancel(saga.tenant_id, saga.id)
        await asyncio.gather(finish, cancel)
        # The success first: the saga completed and the cancel came too late. The cancel
        # first: both steps ended, a cancel asked, so both are compensated, once.
        for _ in range(2):
            for undo in await store.lease_available("w1", 5, 30):
                await store.finish_attempts(
                    "w1", [FinishedAttempt(undo.id, undo.attempt_id, outcome.SUCCEEDED)]
                )
        events = await saga_events(conn, saga.id)
        cursor = await conn.execute(
            "SELECT status::text, phase FROM saga_progress WHERE saga_id = %s", (saga.id,)
        )
        ended = await cursor.fetchone()
        assert events[-1] == "SagaCompleted" and events.count("SagaCompleted") == 1, events
        if ended == ("Succeeded", "completed"):
            assert "SagaCompensating" not in events
        else:
            assert ended == ("Cancelled", "compensated")
            assert events.count("SagaCompensating") == 1, events
            cursor = await conn.execute(
                "SELECT count(*) FROM tasks WHERE parent_id = %s AND wait_reason = 'compensation'",
                (saga.id,),
            )
            assert await cursor.fetchone() == (2,)
