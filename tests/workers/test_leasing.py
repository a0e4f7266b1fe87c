"""The lease rules at the store level: disjoint claims, the stale-worker guard, maintenance."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.adapters.postgres.queries import query
from app.application.maintenance import Maintenance, MaintenanceConfig
from app.application.ports import Artifact, FinishedAttempt
from app.bootstrap import Services, build_worker
from app.domain import outcome
from app.domain.enums import TaskStatus
from app.domain.retry import RetryPolicy
from tests.factories import insert_task
from tests.fakes import FakeArtifactStore
from tests.workers.conftest import Enqueue, attempts_of

Conn = psycopg.AsyncConnection[Any]


def succeeded(task_id: uuid.UUID, attempt_id: int) -> FinishedAttempt:
    return FinishedAttempt(task_id, attempt_id, outcome.SUCCEEDED)


async def expire_leases(conn: Conn) -> None:
    await conn.execute(
        "UPDATE tasks SET locked_until = now() - interval '1 second' WHERE locked_until IS NOT NULL"
    )


async def test_concurrent_claims_return_disjoint_tasks(
    services: Services, enqueue: Enqueue
) -> None:
    await enqueue("demo.noop", count=200)
    store = PgLeaseStore(services.pool)
    claims = await asyncio.gather(*(store.lease_available(f"w{n}", 30, 30) for n in range(8)))
    claimed = [task.id for batch in claims for task in batch]
    assert len(claimed) == len(set(claimed)) == 200
    assert sorted(len(batch) for batch in claims)[-1] <= 30


async def test_a_claim_takes_no_more_than_the_free_slots(
    services: Services, enqueue: Enqueue
) -> None:
    await enqueue("demo.noop", count=10)
    leased = await PgLeaseStore(services.pool).lease_available("w", 3, 30)
    assert len(leased) == 3
    assert [t.attempt_no for t in leased] == [1, 1, 1]


async def test_a_large_claim_runs_as_several_statements_and_takes_exactly_its_share(
    conn: Conn, services: Services, enqueue: Enqueue
) -> None:
    await enqueue("demo.noop", count=400)
    leased = await PgLeaseStore(services.pool).lease_available("w", 350, 30)
    assert len(leased) == len({task.id for task in leased}) == 350
    row = await (
        await conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'Reserved'),"
            " count(DISTINCT attempt_id) FILTER (WHERE status = 'Reserved') FROM tasks"
        )
    ).fetchone()
    assert row == (350, 350)


async def test_tasks_scheduled_for_later_are_not_claimed_early(
    services: Services, enqueue: Enqueue
) -> None:
    later = datetime.now(UTC) + timedelta(minutes=5)
    await enqueue("demo.noop", count=3, scheduled_at=later)
    assert await PgLeaseStore(services.pool).lease_available("w", 10, 30) == []


async def test_a_worker_whose_lease_was_taken_over_cannot_overwrite_anything(
    conn: Conn, services: Services, enqueue: Enqueue
) -> None:
    [task_id] = await enqueue("demo.noop")
    store = PgLeaseStore(services.pool)
    [stale] = await store.lease_available("frozen-worker", 1, 30)
    await expire_leases(conn)
    maintenance = Maintenance(
        PgMaintenanceStore(services.pool, services.url), artifacts=FakeArtifactStore()
    )
    assert (await maintenance.run_once()).rescued == 1
    [fresh] = await store.lease_available("new-owner", 1, 30)
    assert fresh.id == task_id and fresh.attempt_id != stale.attempt_id

    # Everything the frozen worker tries now is refused.
    assert (
        await store.finish_attempts("frozen-worker", [succeeded(task_id, stale.attempt_id)])
        == set()
    )
    assert await store.extend_leases([(task_id, stale.attempt_id)], 30) == {}
    assert not await store.add_artifact(task_id, stale.attempt_id, Artifact("text", content="x"))
    row = await (
        await conn.execute("SELECT status::text, locked_by FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    assert row == ("Reserved", "new-owner")

    # The owner's own writes go through.
    assert await store.finish_attempts("new-owner", [succeeded(task_id, fresh.attempt_id)]) == {
        fresh.attempt_id
    }
    attempts = await attempts_of(conn, task_id)
    assert [(a[1], a[5]) for a in attempts] == [
        ("Lost", "frozen-worker"),
        ("Succeeded", "new-owner"),
    ]


async def test_an_expired_lease_counts_as_an_attempt(
    conn: Conn, services: Services, enqueue: Enqueue
) -> None:
    [task_id] = await enqueue("demo.noop", max_attempts=1)
    await PgLeaseStore(services.pool).lease_available("w", 1, 30)
    await expire_leases(conn)
    await Maintenance(
        PgMaintenanceStore(services.pool, services.url), artifacts=FakeArtifactStore()
    ).run_once()
    row = await (
        await conn.execute("SELECT status::text, last_error FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    assert row == ("DeadLetter", "lease expired: worker w stopped reporting")


async def test_an_expired_lease_with_a_cancel_request_ends_cancelled(
    conn: Conn, services: Services, enqueue: Enqueue, tenant: uuid.UUID
) -> None:
    [task_id] = await enqueue("demo.noop")
    await PgLeaseStore(services.pool).lease_available("w", 1, 30)
    assert await services.tasks.request_cancel(tenant, task_id) is TaskStatus.RESERVED
    await expire_leases(conn)
    await Maintenance(
        PgMaintenanceStore(services.pool, services.url), artifacts=FakeArtifactStore()
    ).run_once()
    row = await (
        await conn.execute("SELECT status::text FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    assert row == ("Cancelled",)


async def test_only_one_maintenance_leader_at_a_time(services: Services) -> None:
    first = PgMaintenanceStore(services.pool, services.url)
    second = PgMaintenanceStore(services.pool, services.url)
    assert await first.try_lead()
    assert await first.try_lead()  # still leading
    assert not await second.try_lead()
    await first.resign()
    assert await second.try_lead()
    await second.resign()


async def test_pruning_removes_old_finished_tasks_in_batches_and_keeps_dead_letters_longer(
    conn: Conn, tenant: uuid.UUID, services: Services
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=10)
    old = [
        await insert_task(conn, tenant, status="Succeeded", finished_at=long_ago) for _ in range(7)
    ]
    dead = await insert_task(conn, tenant, status="DeadLetter", finished_at=long_ago)
    recent = await insert_task(conn, tenant, status="Succeeded", finished_at=datetime.now(UTC))
    waiting = await insert_task(conn, tenant)
    maintenance = Maintenance(
        PgMaintenanceStore(services.pool, services.url),
        MaintenanceConfig(
            retention_seconds=7 * 86_400, dead_letter_retention_seconds=30 * 86_400, batch_size=3
        ),
        artifacts=FakeArtifactStore(),
    )
    for task_id in (old[0], recent):
        await conn.execute(
            "INSERT INTO task_attempts (task_id, attempt_no, worker_id, status, ended_at) "
            "VALUES (%s, 1, 'w', 'Succeeded', now())",
            (task_id,),
        )
        await conn.execute(
            "INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status) "
            "VALUES (%s, %s, 1, 'TaskQueued', 'Queued')",
            (task_id, tenant),
        )
    assert (await maintenance.run_once()).pruned == 7
    cursor = await conn.execute("SELECT id FROM tasks")
    left = {row[0] for row in await cursor.fetchall()}
    assert left == {dead, recent, waiting}
    assert not left & set(old)
    # Attempts and events go with their task (there is no cascading key to do it).
    for table in ("task_attempts", "task_events"):
        cursor = await conn.execute(f"SELECT task_id FROM {table}")
        assert [row[0] for row in await cursor.fetchall()] == [recent]


async def test_the_claim_query_reads_only_its_partial_index(conn: Conn, tenant: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO tasks (tenant_id, type, status, finished_at) "
        "SELECT %s, 'demo.noop', 'Succeeded', now() FROM generate_series(1, 100000)",
        (tenant,),
    )
    await conn.execute(
        "INSERT INTO tasks (tenant_id, type) SELECT %s, 'demo.noop' FROM generate_series(1, 50)",
        (tenant,),
    )
    await conn.execute("ANALYZE tasks")
    claim = query("task_lease_available")
    numbered = claim.replace("%(limit)s", "10").replace("%(worker_id)s", "'w'")
    numbered = numbered.replace("%(lease_seconds)s", "30")
    async with conn.transaction():
        cursor = await conn.execute("EXPLAIN " + numbered)  # type: ignore[operator]
        plan = "\n".join(row[0] for row in await cursor.fetchall())
    assert "tasks_claim_idx" in plan, plan
    assert "Seq Scan on tasks" not in plan, plan


async def test_release_does_not_use_up_an_attempt(
    conn: Conn, services: Services, enqueue: Enqueue
) -> None:
    [task_id] = await enqueue("demo.noop", max_attempts=1)
    store = PgLeaseStore(services.pool)
    [leased] = await store.lease_available("w", 1, 30)
    finished = FinishedAttempt(task_id, leased.attempt_id, outcome.RELEASED)
    assert await store.finish_attempts("w", [finished]) == {leased.attempt_id}
    [again] = await store.lease_available("w2", 1, 30)
    assert again.id == task_id and again.attempt_no == 1


async def test_a_zero_limit_claims_nothing(services: Services, enqueue: Enqueue) -> None:
    await enqueue("demo.noop")
    assert await PgLeaseStore(services.pool).lease_available("w", 0, 30) == []


async def test_a_cancel_requested_while_failing_wins_over_the_retry(
    conn: Conn, services: Services, enqueue: Enqueue, tenant: uuid.UUID
) -> None:
    [task_id] = await enqueue("demo.noop")
    store = PgLeaseStore(services.pool)
    [leased] = await store.lease_available("w", 1, 30)
    await services.tasks.request_cancel(tenant, task_id)
    failed = outcome.failed(
        RuntimeError("boom"), attempt_no=1, max_attempts=3, policy=RetryPolicy(base_seconds=1)
    )
    finished = FinishedAttempt(task_id, leased.attempt_id, failed)
    assert await store.finish_attempts("w", [finished]) == {leased.attempt_id}
    row = await (
        await conn.execute(
            "SELECT status::text, finished_at IS NOT NULL FROM tasks WHERE id = %s", (task_id,)
        )
    ).fetchone()
    assert row == ("Cancelled", True)
    last = await (
        await conn.execute(
            "SELECT event_type FROM task_events WHERE task_id = %s ORDER BY sequence DESC LIMIT 1",
            (task_id,),
        )
    ).fetchone()
    assert last == ("TaskCancelled",)


async def test_worker_sessions_claim_through_the_index_even_with_stale_statistics(
    conn: Conn, tenant: uuid.UUID, database_url: str, tmp_path: Any
) -> None:
    from tests.workers.conftest import fast_settings

    await conn.execute("ANALYZE tasks")  # statistics say: empty
    await conn.execute(
        "INSERT INTO tasks (tenant_id, type) SELECT %s, 'demo.noop' FROM generate_series(1, 20000)",
        (tenant,),
    )
    process = build_worker(fast_settings(log_dir=tmp_path), url=database_url)
    await process.services.start()
    try:
        claim = query("task_lease_available").replace("%(limit)s", "10")
        claim = claim.replace("%(worker_id)s", "'w'").replace("%(lease_seconds)s", "30")
        async with process.services.pool.connection() as worker_conn:
            cursor = await worker_conn.execute("EXPLAIN " + claim)  # type: ignore[operator]
            plan = "\n".join(row[0] for row in await cursor.fetchall())
            await worker_conn.rollback()
    finally:
        await process.services.stop()
    assert "Index Scan using tasks_claim_idx" in plan, plan
    assert "Bitmap" not in plan and "Sort Key: tasks.priority" not in plan, plan
