"""PgBatchStore: batches (a parent task, its group row, its children) in Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.adapters.postgres.connection_scope import ConnectionScope
from app.adapters.postgres.queries import query
from app.adapters.postgres.task_repository import task_record
from app.application.batches import BATCH_TASK_TYPE, BatchRecord, CreateBatch
from app.application.task_repository import EnqueueTask, TaskRecord
from app.domain.dependencies import FailurePolicy
from app.domain.enums import ExecutionType, TaskStatus


class PgBatchStore(ConnectionScope):
    """BatchStore over a pool, or over one connection (a caller's own transaction)."""

    async def create(
        self,
        batch: CreateBatch,
        batch_id: uuid.UUID,
        children: Sequence[tuple[uuid.UUID, EnqueueTask]],
    ) -> bool:
        parent = {
            "id": str(batch_id),
            "tenant_id": str(batch.tenant_id),
            "type": BATCH_TASK_TYPE,
            "priority": batch.priority,
            "idempotency_key": batch.idempotency_key,
            "request_hash": batch.request_hash,
            "correlation_id": batch.correlation_id,
            "trace_id": batch.trace_id,
            "failure_policy": batch.failure_policy.value,
            "on_complete": _spec(batch.on_complete) if batch.on_complete else None,
            "total": len(children),
        }
        rows = [_child(child_id, c) for child_id, c in children]
        edges = []
        for index, needs in batch.depends_on.items():
            unique = sorted(set(needs))
            if unique:
                rows[index]["deps_pending"] = len(unique)  # held until these end
            edges += [{"task_id": rows[index]["id"], "depends_on": rows[n]["id"]} for n in unique]
        params = {"batch": Jsonb(parent), "children": Jsonb(rows), "edges": Jsonb(edges)}
        async with self._connection() as conn:
            cursor = await conn.execute(query("batch_create"), params)
            return await cursor.fetchone() is not None

    async def get(self, tenant_id: uuid.UUID, batch_id: uuid.UUID) -> BatchRecord | None:
        ids = {"id": batch_id, "tenant_id": tenant_id}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("batch_get"), ids)
            row = await cur.fetchone()
            if row is None:
                return None
            await cur.execute(query("batch_child_status_counts"), ids)
            counts = {r["status"]: r["tasks"] for r in await cur.fetchall()}
        return BatchRecord(
            id=row["id"],
            tenant_id=row["tenant_id"],
            status=TaskStatus(row["status"]),
            failure_policy=FailurePolicy(row["failure_policy"]),
            total=row["total"],
            remaining=row["remaining"],
            succeeded=row["succeeded"],
            dead_lettered=row["dead_lettered"],
            cancelled=row["cancelled"],
            generation=row["generation"],
            callback_task_id=row["callback_task_id"],
            on_complete=row["on_complete"],
            request_hash=row["request_hash"],
            created_at=row["created_at"],
            completed_at=row["completed_at"],
            cancel_requested_at=row["cancel_requested_at"],
            by_status=counts,
        )

    async def find(self, tenant_id: uuid.UUID, idempotency_key: str) -> uuid.UUID | None:
        async with self._connection() as conn:
            cursor = await conn.execute(
                query("batch_get_by_idempotency_key"),
                {"tenant_id": tenant_id, "key": idempotency_key},
            )
            row = await cursor.fetchone()
        return row[0] if row else None

    async def children(
        self, tenant_id: uuid.UUID, batch_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[TaskRecord]:
        params = {"id": batch_id, "tenant_id": tenant_id, "after": after, "limit": limit}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("batch_child_list"), params)
            rows = await cur.fetchall()
        return [task_record(row) for row in rows]


def _child(child_id: uuid.UUID, c: EnqueueTask) -> dict[str, Any]:
    """A child as batch_create reads it; absent keys are NULL there."""
    fields: dict[str, Any] = {
        "id": str(child_id),
        "type": c.type,
        "priority": c.priority,
        "payload": dict(c.payload),
        "max_attempts": c.max_attempts,
    }
    for key, value in (
        ("execution_type", None if c.execution_type is ExecutionType.ASYNC else c.execution_type),
        ("domain_type", c.domain_type.value if c.domain_type else None),
        ("capability_type", c.capability_type.value if c.capability_type else None),
        ("scheduled_at", c.scheduled_at.isoformat() if c.scheduled_at else None),
        ("timeout_seconds", c.timeout_seconds),
        ("retry_policy", dict(c.retry_policy) if c.retry_policy else None),
        ("correlation_id", c.correlation_id),
        ("trace_id", c.trace_id),
    ):
        if value is not None:
            fields[key] = value
    return fields


def _spec(c: EnqueueTask) -> dict[str, Any]:
    """The callback's task spec as task_groups_settle reads it (camelCase keys)."""
    spec: dict[str, Any] = {
        "type": c.type,
        "payload": dict(c.payload),
        "priority": c.priority,
        "maxAttempts": c.max_attempts,
    }
    for key, value in (
        ("domainType", c.domain_type.value if c.domain_type else None),
        ("capabilityType", c.capability_type.value if c.capability_type else None),
        ("timeoutSeconds", c.timeout_seconds),
        ("retryPolicy", dict(c.retry_policy) if c.retry_policy else None),
    ):
        if value is not None:
            spec[key] = value
    return spec
