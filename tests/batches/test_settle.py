"""The dependency mechanism at the store level: children's endings reach their parent in
the same transaction, exactly once, from every path that ends a task."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.application.ports import FinishedAttempt, LeasedTask
from app.bootstrap import Services
from app.domain import outcome
from app.domain.enums import AttemptStatus, TaskStatus
from app.domain.events import EventType
from app.domain.outcome import Outcome
from tests.batches.conftest import MakeBatch, batch_events, batch_row, callbacks_of

Conn = psycopg.AsyncConnection[Any]


async def lease_children(store: PgLeaseStore, count: int, worker: str = "w1") -> list[LeasedTask]:
    return await store.lease_available(worker, count, 30)


def ended(task: LeasedTask, how: Outcome = outcome.SUCCEEDED) -> FinishedAttempt:
    return FinishedAttempt(task.id, task.attempt_id, how)


async def test_the_last_child_to_end_completes_its_batch_and_queues_the_callback_once(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(3)
    store = PgLeaseStore(services.pool)
    children = await lease_children(store, 3)
    await store.finish_attempts("w1", [ended(children[0])])
    assert (await batch_row(conn, batch.id))["status"] == "Created"
    await store.finish_attempts("w1", [ended(c) for c in children[1:]])

    row = await batch_row(conn, batch.id)
    assert row["status"] == "Succeeded"
    assert (row["done"], row["succeeded"], row["remaining"]) == (3, 3, 0)
    [(callback_id, status, summary)] = await callbacks_of(conn, batch.id)
    assert (callback_id, status) == (row["callback"], "Queued")
    assert summary["succeeded"] == 3 and len(summary["children"]) == 3
    events = await batch_events(conn, batch.id)
    assert events[0] == "BatchCreated" and events[-1] == "BatchCompleted"
    assert events.count("BatchCompleted") == 1


async def test_the_last_two_children_ending_at_once_on_two_workers_complete_it_once(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    """Twenty batches of two, each child leased by a different worker, both finished at
    the same moment: the group row's lock lets exactly one transaction see 0."""
    batches = [await make_batch(2) for _ in range(20)]
    # The second child of each batch comes later in the claim order: one worker takes
    # the first children, the other the second ones.
    await conn.execute(
        "UPDATE tasks t SET priority = 9 WHERE parent_id IS NOT NULL AND id = "
        "(SELECT c.id FROM tasks c WHERE c.parent_id = t.parent_id ORDER BY c.id DESC LIMIT 1)"
    )
    one, two = PgLeaseStore(services.pool), PgLeaseStore(services.pool)
    first = await lease_children(one, 20, "w1")
    second = await lease_children(two, 20, "w2")
    await asyncio.gather(
        *(one.finish_attempts("w1", [ended(task)]) for task in first),
        *(two.finish_attempts("w2", [ended(task)]) for task in second),
    )
    for batch in batches:
        row = await batch_row(conn, batch.id)
        assert (row["status"], row["remaining"]) == ("Succeeded", 0)
        assert len(await callbacks_of(conn, batch.id)) == 1
        assert (await batch_events(conn, batch.id)).count("BatchCompleted") == 1


async def test_a_stale_worker_reporting_a_child_late_does_not_count_it_twice(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(2)
    store = PgLeaseStore(services.pool)
    children = await lease_children(store, 2)
    await store.finish_attempts("w1", [ended(children[0])])
    # The same attempt reported again (a retried write): its lease is gone, nothing counts.
    store._child_attempts.add(children[0].attempt_id)
    await store.finish_attempts("w1", [ended(children[0])])
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["done"], row["remaining"]) == ("Created", 1, 1)


async def test_fail_fast_cancels_the_waiting_children_once_one_is_dead_lettered(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(5, fail_fast=True)
    store = PgLeaseStore(services.pool)
    [first] = await lease_children(store, 1)
    dead = Outcome(
        TaskStatus.DEAD_LETTER, AttemptStatus.FAILED, EventType.DEAD_LETTERED, error_code="Boom"
    )
    await store.finish_attempts("w1", [ended(first, dead)])
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["dead_lettered"], row["cancelled"]) == ("DeadLetter", 1, 4)
    [(_, status, summary)] = await callbacks_of(conn, batch.id)
    assert (status, summary["status"], summary["cancelled"]) == ("Queued", "DeadLetter", 4)


async def test_a_child_lost_with_its_worker_ends_the_batch_through_the_rescue(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(1, max_attempts=1)
    await lease_children(PgLeaseStore(services.pool), 1)
    await conn.execute(
        "UPDATE tasks SET locked_until = now() - interval '1 second' WHERE locked_until IS NOT NULL"
    )
    rescued = await PgMaintenanceStore(services.pool, services.url).rescue_expired(10)
    assert rescued == 1
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["dead_lettered"]) == ("DeadLetter", 1)
    assert len(await callbacks_of(conn, batch.id)) == 1


async def test_held_parents_cost_the_claim_nothing_and_show_why_they_wait(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(2)
    leased = await lease_children(PgLeaseStore(services.pool), 10)
    assert batch.id not in {t.id for t in leased} and len(leased) == 2
    cursor = await conn.execute(
        "SELECT wait_reason, waiting_for FROM held_tasks WHERE id = %s", (batch.id,)
    )
    assert await cursor.fetchone() == ("children", "2 of 2 children still to end")


async def test_cancelling_a_batch_cancels_its_waiting_children_and_asks_the_running_ones(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(3)
    store = PgLeaseStore(services.pool)
    [running] = await lease_children(store, 1)
    status = await services.tasks.request_cancel(batch.tenant_id, batch.id)
    assert status == TaskStatus.CREATED  # its running child has not stopped yet
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["cancelled"], row["remaining"]) == ("Created", 2, 1)
    cursor = await conn.execute(
        "SELECT cancel_requested_at IS NOT NULL FROM tasks WHERE id = %s", (running.id,)
    )
    assert await cursor.fetchone() == (True,)

    await store.finish_attempts("w1", [ended(running, outcome.CANCELLED)])
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["cancelled"], row["remaining"]) == ("Cancelled", 3, 0)
    assert await callbacks_of(conn, batch.id) == []  # a cancelled batch calls nothing back


async def test_cancelling_the_last_waiting_child_ends_the_batch(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(2)
    store = PgLeaseStore(services.pool)
    [first] = await lease_children(store, 1)
    await store.finish_attempts("w1", [ended(first)])
    cursor = await conn.execute(
        "SELECT id FROM tasks WHERE parent_id = %s AND status = 'Queued'", (batch.id,)
    )
    [(last,)] = await cursor.fetchall()
    assert await services.tasks.request_cancel(batch.tenant_id, last) == TaskStatus.CANCELLED
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["succeeded"], row["cancelled"]) == ("Succeeded", 1, 1)
    [(_, _, summary)] = await callbacks_of(conn, batch.id)
    assert summary["cancelled"] == 1


async def test_requeueing_a_dead_child_reopens_the_batch_and_calls_back_again(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(1, max_attempts=1)
    store = PgLeaseStore(services.pool)
    dead = Outcome(TaskStatus.DEAD_LETTER, AttemptStatus.FAILED, EventType.DEAD_LETTERED)
    [child] = await lease_children(store, 1)
    await store.finish_attempts("w1", [ended(child, dead)])
    assert (await batch_row(conn, batch.id))["status"] == "DeadLetter"

    assert await services.tasks.requeue(batch.tenant_id, child.id, "operator")
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["generation"], row["remaining"]) == ("Created", 2, 1)
    # The first generation's callback is queued too; the requeued child is claimed again.
    [again] = [t for t in await lease_children(store, 2) if t.id == child.id]
    await store.finish_attempts("w1", [ended(again)])

    row = await batch_row(conn, batch.id)
    assert (row["status"], row["generation"], row["succeeded"]) == ("Succeeded", 2, 1)
    callbacks = await callbacks_of(conn, batch.id)
    assert [(c[2]["generation"], c[2]["status"]) for c in callbacks] == [
        (1, "DeadLetter"),
        (2, "Succeeded"),
    ]
    assert (await batch_events(conn, batch.id)).count("BatchReopened") == 1


async def test_a_batch_itself_is_not_requeued(
    conn: Conn, services: Services, make_batch: MakeBatch
) -> None:
    batch = await make_batch(1, max_attempts=1)
    store = PgLeaseStore(services.pool)
    dead = Outcome(TaskStatus.DEAD_LETTER, AttemptStatus.FAILED, EventType.DEAD_LETTERED)
    [child] = await lease_children(store, 1)
    await store.finish_attempts("w1", [ended(child, dead)])
    assert not await services.tasks.requeue(batch.tenant_id, batch.id, "operator")
    assert (await batch_row(conn, batch.id))["status"] == "DeadLetter"
