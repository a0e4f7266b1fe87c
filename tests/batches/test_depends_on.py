"""dependsOn: a task held until the tasks it depends on have succeeded, released in the
transaction that ends the last of them; cancelled (transitively) if one does not."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.application.batches import InvalidDependencies
from app.application.ports import FinishedAttempt, LeasedTask
from app.bootstrap import Services
from app.domain import outcome
from app.domain.enums import AttemptStatus, TaskStatus
from app.domain.events import EventType
from app.domain.outcome import Outcome
from tests.batches.conftest import MakeBatch, batch_row

Conn = psycopg.AsyncConnection[Any]
DEAD = Outcome(TaskStatus.DEAD_LETTER, AttemptStatus.FAILED, EventType.DEAD_LETTERED)


async def children(conn: Conn, batch_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The batch's tasks in the order given, with their statuses."""
    cursor = await conn.execute(
        "SELECT id, status::text FROM tasks WHERE parent_id = %s ORDER BY id", (batch_id,)
    )
    return await cursor.fetchall()


async def run_all(store: PgLeaseStore, how: Outcome = outcome.SUCCEEDED) -> list[LeasedTask]:
    """Claim whatever is claimable and end it."""
    leased = await store.lease_available("w1", 50, 30)
    await store.finish_attempts("w1", [FinishedAttempt(t.id, t.attempt_id, how) for t in leased])
    return leased


async def test_a_chain_runs_one_task_after_the_other(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(3, depends_on={1: [0], 2: [1]})
    (a, _), (b, _), (c, _) = await children(conn, batch.id)
    store = PgLeaseStore(services.pool)
    assert [t.id for t in await run_all(store)] == [a]  # b and c are held
    assert [t.id for t in await run_all(store)] == [b]
    assert [t.id for t in await run_all(store)] == [c]
    assert (await batch_row(conn, batch.id))["status"] == "Succeeded"
    cursor = await conn.execute(
        "SELECT sequence, event_type FROM task_events WHERE task_id = %s ORDER BY sequence", (c,)
    )
    # Held, it published nothing; released, its first event is TaskQueued.
    assert [row[1] for row in await cursor.fetchall()][:1] == ["TaskQueued"]


async def test_a_task_waits_for_all_it_depends_on(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(3, depends_on={2: [0, 1]})
    (a, _), (b, _), (c, _) = await children(conn, batch.id)
    store = PgLeaseStore(services.pool)
    first, second = await store.lease_available("w1", 50, 30)
    await store.finish_attempts(
        "w1", [FinishedAttempt(first.id, first.attempt_id, outcome.SUCCEEDED)]
    )
    cursor = await conn.execute("SELECT waiting_for FROM held_tasks WHERE id = %s", (c,))
    assert await cursor.fetchone() == ("1 tasks it depends on still to end",)
    cursor = await conn.execute(
        "SELECT depends_on, depends_on_status::text FROM task_waiting_on WHERE task_id = %s"
        " ORDER BY depends_on",
        (c,),
    )
    assert {first.id, second.id} == {a, b}
    assert await cursor.fetchall() == sorted([(first.id, "Succeeded"), (second.id, "Reserved")])
    await store.finish_attempts(
        "w1", [FinishedAttempt(second.id, second.attempt_id, outcome.SUCCEEDED)]
    )
    assert dict(await children(conn, batch.id))[c] == "Queued"


async def test_a_dead_lettered_task_cancels_what_depends_on_it_transitively(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(4, depends_on={1: [0], 2: [1], 3: []}, max_attempts=1)
    (a, _), (b, _), (c, _), (d, _) = await children(conn, batch.id)
    store = PgLeaseStore(services.pool)
    leased = {t.id: t for t in await store.lease_available("w1", 50, 30)}
    assert set(leased) == {a, d}
    await store.finish_attempts("w1", [FinishedAttempt(a, leased[a].attempt_id, DEAD)])
    statuses = dict(await children(conn, batch.id))
    assert (statuses[b], statuses[c]) == ("Cancelled", "Cancelled")
    await store.finish_attempts("w1", [FinishedAttempt(d, leased[d].attempt_id, outcome.SUCCEEDED)])
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["dead_lettered"], row["cancelled"], row["succeeded"]) == (
        "DeadLetter",
        1,
        2,
        1,
    )


async def test_a_cycle_is_refused(make_batch: MakeBatch) -> None:
    with pytest.raises(InvalidDependencies, match="cycle"):
        await make_batch(3, depends_on={0: [2], 1: [0], 2: [1]})


async def test_pruning_finished_tasks_removes_their_dependency_edges(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(2, depends_on={1: [0]}, on_complete=None)
    store = PgLeaseStore(services.pool)
    await run_all(store)
    await run_all(store)
    assert (await batch_row(conn, batch.id))["status"] == "Succeeded"
    await conn.execute("UPDATE tasks SET finished_at = now() - interval '1 day'")
    pruned = await PgMaintenanceStore(services.pool, services.url).prune_finished(60, 60, 100)
    assert len(pruned) == 3
    cursor = await conn.execute("SELECT count(*) FROM task_dependencies")
    assert await cursor.fetchone() == (0,)
