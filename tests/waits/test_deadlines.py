"""Deadlines are kept by the maintenance leader, each wait ended exactly once: with
three workers (one leads), with three sweeps at once, and racing people's decisions.
A parked child a deadline or a rejection ends reaches its parent."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import psycopg

from app.adapters.postgres.batch_store import PgBatchStore
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.adapters.postgres.wait_store import PgWaitStore
from app.application.batches import CreateBatch, create_batch
from app.application.decisions import AlreadyDecided, DecideTask, NotWaitingForDecision, decide_task
from app.application.maintenance import Maintenance, MaintenanceConfig
from app.application.task_repository import EnqueueTask
from app.bootstrap import Services
from app.domain import waits
from app.domain.enums import ExecutionType
from tests.fakes import FakeArtifactStore
from tests.waits.http import waiting_registry
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status

Conn = psycopg.AsyncConnection[Any]


async def gated(
    enqueue: Enqueue, count: int, on_deadline: waits.ApprovalDeadline
) -> list[uuid.UUID]:
    return await enqueue(
        "gated",
        count,
        execution_type=ExecutionType.HUMAN_IN_LOOP,
        wait=waits.approval("Go?", deadline_seconds=3600, on_deadline=on_deadline),
    )


async def pass_deadlines(conn: Conn, task_ids: list[uuid.UUID]) -> None:
    await conn.execute(
        "UPDATE task_waits SET deadline_at = now() - interval '1 second' WHERE task_id = ANY(%s)",
        (task_ids,),
    )


async def event_counts(
    conn: Conn, task_ids: list[uuid.UUID], *types: str
) -> Counter[tuple[uuid.UUID, str]]:
    cursor = await conn.execute(
        "SELECT task_id, event_type FROM task_events"
        " WHERE task_id = ANY(%s) AND event_type = ANY(%s)",
        (task_ids, list(types)),
    )
    return Counter((row[0], row[1]) for row in await cursor.fetchall())


async def test_with_three_workers_each_deadline_ends_its_wait_exactly_once(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    runs: list[str] = []
    workers = [await start_worker(waiting_registry(runs)) for _ in range(3)]
    task_ids = await gated(enqueue, 200, "approve")
    await pass_deadlines(conn, task_ids)

    await wait_for_status(conn, task_ids, {"Succeeded"}, within=30)
    assert [w.process.maintenance.is_leader for w in workers].count(True) == 1
    counts = await event_counts(conn, task_ids, "TaskWaitTimedOut", "TaskRunning")
    assert {counts[(t, "TaskWaitTimedOut")] for t in task_ids} == {1}
    assert {counts[(t, "TaskRunning")] for t in task_ids} == {1}
    assert len(runs) == 200


async def test_three_sweeps_at_once_end_each_wait_once(
    conn: Conn, services: Services, enqueue: Enqueue
) -> None:
    task_ids = await gated(enqueue, 300, "reject")
    await pass_deadlines(conn, task_ids)
    sweeps = [
        Maintenance(
            PgMaintenanceStore(services.pool, services.url),
            MaintenanceConfig(batch_size=50),
            artifacts=FakeArtifactStore(),
        )
        for _ in range(3)
    ]

    rounds = await asyncio.gather(*(s.run_once(prune=False) for s in sweeps))
    assert sum(r.waits_expired for r in rounds) == 300
    counts = await event_counts(conn, task_ids, "TaskWaitTimedOut")
    assert sorted(counts.values()) == [1] * 300
    assert set((await wait_for_status(conn, task_ids, {"Cancelled"})).values()) == {"Cancelled"}


async def test_a_decision_racing_the_deadline_either_wins_or_is_refused(
    conn: Conn, services: Services, enqueue: Enqueue, tenant: uuid.UUID
) -> None:
    task_ids = await gated(enqueue, 100, "reject")
    await pass_deadlines(conn, task_ids)
    store = PgWaitStore(services.pool)
    sweeper = PgMaintenanceStore(services.pool, services.url)

    async def approve(task_id: uuid.UUID) -> str:
        command = DecideTask(tenant, task_id, "approve", api_key_id=None, decided_by="ana")
        try:
            await decide_task(command, waits=store)
        except (AlreadyDecided, NotWaitingForDecision):
            return "refused"
        return "decided"

    half = len(task_ids) // 2
    outcomes = await asyncio.gather(
        *(approve(t) for t in task_ids[:half]),
        sweeper.expire_waits(len(task_ids)),
        *(approve(t) for t in task_ids[half:]),
    )
    outcomes = outcomes[:half] + outcomes[half + 1 :]
    decided = {t for t, o in zip(task_ids, outcomes, strict=True) if o == "decided"}
    counts = await event_counts(conn, task_ids, "TaskWaitTimedOut", "TaskDecided")
    for task_id in task_ids:
        ended_by = "TaskDecided" if task_id in decided else "TaskWaitTimedOut"
        assert counts[(task_id, ended_by)] == 1
        assert sum(counts[(task_id, e)] for e in ("TaskDecided", "TaskWaitTimedOut")) == 1
    statuses = await wait_for_status(conn, task_ids, {"Queued", "Cancelled"})
    assert {t for t, s in statuses.items() if s == "Queued"} == decided


async def park_child(conn: Conn, child: uuid.UUID, deadline: str) -> None:
    """Gate a queued child of a batch behind an approval (no API makes one yet)."""
    await conn.execute(
        "UPDATE tasks SET status = 'Created', wait_reason = 'decision' WHERE id = %s", (child,)
    )
    await conn.execute(
        "INSERT INTO task_waits (task_id, tenant_id, kind, wait_key, question, deadline_at,"
        " on_deadline) SELECT id, tenant_id, 'approval', 'approval', 'Go?',"
        " now() + %s::interval, 'deadLetter' FROM tasks WHERE id = %s",
        (deadline, child),
    )


async def test_a_parked_child_a_rejection_or_a_deadline_ends_reaches_its_batch(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    command = CreateBatch(
        tenant_id=tenant,
        tasks=[EnqueueTask(tenant_id=tenant, type="demo.noop") for _ in range(2)],
    )
    batch = (await create_batch(command, batches=PgBatchStore(services.pool))).batch
    children = [
        t.id
        for t in await PgBatchStore(services.pool).children(tenant, batch.id, after=None, limit=10)
    ]
    await park_child(conn, children[0], "1 hour")
    await park_child(conn, children[1], "-1 second")

    rejected = DecideTask(tenant, children[0], "reject", api_key_id=None)
    await decide_task(rejected, waits=PgWaitStore(services.pool))
    await Maintenance(
        PgMaintenanceStore(services.pool, services.url), artifacts=FakeArtifactStore()
    ).run_once(prune=False)

    done = await PgBatchStore(services.pool).get(tenant, batch.id)
    assert done is not None
    assert (done.status, done.remaining, done.cancelled, done.dead_lettered) == (
        "DeadLetter",
        0,
        1,
        1,
    )
