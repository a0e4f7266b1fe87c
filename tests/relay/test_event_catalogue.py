"""The published event catalogue describes exactly the messages the outbox holds."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg

from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.adapters.postgres.wait_store import PgWaitStore
from app.application.decisions import DecideTask, decide_task
from app.application.maintenance import Maintenance
from app.application.ports import FinishedAttempt, ProgressUpdate, StartedAttempt
from app.application.tasks import cancel_task, requeue_task
from app.bootstrap import Services
from app.domain import outcome, waits
from app.domain.event_catalogue import MODELS
from app.domain.events import EventType
from app.domain.retry import RetryPolicy
from tests.fakes import FakeArtifactStore
from tests.workers.conftest import Enqueue

Conn = psycopg.AsyncConnection[Any]
ROOT = Path(__file__).resolve().parents[2]


async def test_every_event_type_in_the_outbox_matches_its_schema(
    conn: Conn, services: Services, enqueue: Enqueue, tenant: uuid.UUID
) -> None:
    store = PgLeaseStore(services.pool)
    # succeeded, with progress on the way
    [done] = await enqueue("demo.noop")
    [lease] = await store.lease_available("w1", 1, 30)
    await store.start_attempts("w1", [StartedAttempt(done, lease.attempt_id, 0.0)])
    await store.record_progress([ProgressUpdate(done, lease.attempt_id, 50, "half", None)])
    await store.finish_attempts("w1", [FinishedAttempt(done, lease.attempt_id, outcome.SUCCEEDED)])
    # failed (its start written with its end), then dead-lettered, then requeued
    [flaky] = await enqueue("demo.noop", max_attempts=2)
    for _ in range(2):
        await conn.execute("UPDATE tasks SET scheduled_at = now() WHERE id = %s", (flaky,))
        [lease] = await store.lease_available("w1", 1, 30)
        failed = outcome.failed(
            RuntimeError("x"), attempt_no=lease.attempt_no, max_attempts=2, policy=RetryPolicy()
        )
        ended = FinishedAttempt(flaky, lease.attempt_id, failed, start_unwritten_ran_seconds=0.1)
        await store.finish_attempts("w1", [ended])
    # released, then cancel requested while running, then a lost lease ends it cancelled
    [moving] = await enqueue("demo.noop")
    [lease] = await store.lease_available("w1", 1, 30)
    await store.finish_attempts("w1", [FinishedAttempt(moving, lease.attempt_id, outcome.RELEASED)])
    [lease] = await store.lease_available("w2", 1, 30)
    await cancel_task(tenant, moving, tasks=services.tasks)
    await conn.execute(
        "UPDATE tasks SET locked_until = now() - interval '1 s' WHERE id = %s", (moving,)
    )
    # waits: an approval decided, one timed out, a signal awaited and received
    [gated, late] = await enqueue(
        "demo.noop", 2, wait=waits.approval("Go?", deadline_seconds=60, on_deadline="approve")
    )
    await decide_task(
        DecideTask(tenant, gated, "approve", api_key_id=None, decided_by="ana"),
        waits=PgWaitStore(services.pool),
    )
    await conn.execute(
        "UPDATE task_waits SET deadline_at = now() - interval '1 s' WHERE task_id = %s", (late,)
    )
    await enqueue("demo.noop", wait=waits.signal_wait("paid", "o-1", on_timeout="deadLetter"))
    await conn.execute(
        "SELECT signal_send(%s, gen_random_uuid(), 'paid', 'o-1', '{}', 'h', 60)", (tenant,)
    )
    await Maintenance(
        PgMaintenanceStore(services.pool, services.url), artifacts=FakeArtifactStore()
    ).run_once()
    await requeue_task(tenant, flaky, requested_by="ops", tasks=services.tasks)

    cursor = await conn.execute("SELECT content FROM outbox_messages ORDER BY id")
    messages = [row[0] for row in await cursor.fetchall()]
    seen = set()
    for message in messages:
        event_type = EventType(message["eventType"])
        MODELS[event_type].model_validate(message)  # refuses unknown or missing fields
        seen.add(event_type)
    assert seen == set(EventType)


def test_the_catalogue_in_docs_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/event_catalogue.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
