"""Fixtures for batch tests: the engine fixtures, and a batch factory at the store level."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from app.adapters.postgres.batch_store import PgBatchStore
from app.application.batches import BatchRecord, CreateBatch, create_batch
from app.application.task_repository import EnqueueTask
from app.bootstrap import Services
from app.domain.dependencies import FailurePolicy
from tests.workers.conftest import services, start_worker, tenant  # noqa: F401 (fixtures)

Conn = psycopg.AsyncConnection[Any]
MakeBatch = Callable[..., Awaitable[BatchRecord]]


@pytest.fixture
def make_batch(services: Services, tenant: uuid.UUID) -> MakeBatch:  # noqa: F811
    """make_batch(children=3, task_type=..., on_complete=type|None, fail_fast=False)."""

    async def make(
        children: int = 3,
        *,
        task_type: str = "demo.noop",
        on_complete: str | None = "demo.callback",
        fail_fast: bool = False,
        max_attempts: int = 3,
        idempotency_key: str | None = None,
        depends_on: dict[int, list[int]] | None = None,
    ) -> BatchRecord:
        command = CreateBatch(
            tenant_id=tenant,
            tasks=[
                EnqueueTask(tenant_id=tenant, type=task_type, max_attempts=max_attempts)
                for _ in range(children)
            ],
            on_complete=(
                EnqueueTask(tenant_id=tenant, type=on_complete, payload={"note": "done"})
                if on_complete
                else None
            ),
            failure_policy=FailurePolicy.FAIL_FAST if fail_fast else FailurePolicy.CONTINUE,
            idempotency_key=idempotency_key,
            depends_on=depends_on or {},
        )
        created = await create_batch(command, batches=PgBatchStore(services.pool))
        return created.batch

    return make


async def batch_row(conn: Conn, batch_id: uuid.UUID) -> dict[str, Any]:
    """The batch as a DBA sees it (the view batch_progress)."""
    cursor = await conn.execute(
        "SELECT status::text, total, done, remaining, succeeded, dead_lettered, cancelled,"
        " generation, callback_task_id FROM batch_progress WHERE batch_id = %s",
        (batch_id,),
    )
    row = await cursor.fetchone()
    assert row is not None
    keys = "status total done remaining succeeded dead_lettered cancelled generation callback"
    return dict(zip(keys.split(), row, strict=True))


async def callbacks_of(conn: Conn, batch_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """The callback tasks queued for a batch: (id, status, payload's batch summary)."""
    cursor = await conn.execute(
        "SELECT id, status::text, payload -> 'batch' FROM tasks"
        " WHERE payload -> 'batch' ->> 'id' = %s ORDER BY created_at",
        (str(batch_id),),
    )
    return await cursor.fetchall()


async def batch_events(conn: Conn, batch_id: uuid.UUID) -> list[str]:
    cursor = await conn.execute(
        "SELECT event_type FROM task_events WHERE task_id = %s ORDER BY sequence", (batch_id,)
    )
    return [row[0] for row in await cursor.fetchall()]
