"""PgTaskRepository: tasks as the API and library callers see them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.dependency_settle import settle_rows
from app.adapters.postgres.queries import query
from app.application.task_repository import NewTask, TaskRecord
from app.domain.enums import CapabilityType, DomainType, ExecutionType, TaskStatus


class PgTaskRepository:
    """TaskRepository over a psycopg pool (or one connection, inside `transaction()`)."""

    def __init__(self, pool: AsyncConnectionPool, conn: AsyncConnection[Any] | None = None) -> None:
        self._pool = pool
        self._conn = conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTaskRepository]:
        """A repository whose calls share one transaction, committed when the block ends
        and rolled back if it raises."""
        async with self._pool.connection() as conn, conn.transaction():
            yield PgTaskRepository(self._pool, conn)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if self._conn is not None:
            yield self._conn
        else:
            async with self._pool.connection() as conn:
                yield conn

    async def add_many(self, tasks: Sequence[NewTask]) -> list[TaskRecord]:
        if not tasks:
            return []
        records = [
            {
                "id": str(t.id),
                "tenant_id": str(c.tenant_id),
                "type": c.type,
                "domain_type": _value(c.domain_type),
                "capability_type": _value(c.capability_type),
                "execution_type": c.execution_type.value,
                "priority": c.priority,
                "payload": dict(c.payload),
                "idempotency_key": c.idempotency_key,
                "request_hash": t.request_hash,
                "scheduled_at": c.scheduled_at.isoformat() if c.scheduled_at else None,
                "max_attempts": c.max_attempts,
                "timeout_seconds": c.timeout_seconds,
                "retry_policy": dict(c.retry_policy) if c.retry_policy else None,
                "correlation_id": c.correlation_id,
                "trace_id": c.trace_id,
                "wait": c.wait.as_json() if c.wait else None,
            }
            for t, c in ((t, t.command) for t in tasks)
        ]
        params = {"tasks": Jsonb(records)}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("task_enqueue_many"), params)
            rows = await cur.fetchall()
        return [task_record(row) for row in rows]

    async def answer_kept_signals(self, task_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not task_ids:
            return set()
        async with self._connection() as conn:
            cursor = await conn.execute(query("task_waits_check_signals"), {"ids": list(task_ids)})
            rows = await cursor.fetchall()
            await settle_rows(conn, [r for r in rows if r[1] is not None])
        return {row[0] for row in rows}

    async def get(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> TaskRecord | None:
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("task_get"), {"id": task_id, "tenant_id": tenant_id})
            row = await cur.fetchone()
        return task_record(row) if row else None

    async def get_by_idempotency_keys(
        self, tenant_id: uuid.UUID, keys: Sequence[str]
    ) -> dict[str, TaskRecord]:
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                query("task_get_by_idempotency_keys"), {"tenant_id": tenant_id, "keys": list(keys)}
            )
            rows = await cur.fetchall()
        return {row["idempotency_key"]: task_record(row) for row in rows}

    async def request_cancel(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> TaskStatus | None:
        """Cancel a task; a parent (batch) cancels its children first, and ends, Cancelled,
        when its last child does. Locks go child, group, parent: the order of a worker's
        finish, so the two never deadlock."""
        ids = {"id": task_id, "tenant_id": tenant_id}
        async with self._connection() as conn, conn.transaction():
            children: list[tuple[Any, ...]] = []
            cursor = await conn.execute(
                query("task_cancel_children"), {"parent_id": task_id, "tenant_id": tenant_id}
            )
            children = await cursor.fetchall()
            await conn.execute(query("task_group_lock"), ids)
            cursor = await conn.execute(query("task_cancel"), ids)
            row = await cursor.fetchone()
            changes = [(task, parent, tenant, status) for task, parent, tenant, status in children]
            if row is not None:
                changes.append((row[0], row[2], row[3], row[1]))
            await settle_rows(conn, changes)
            if row is None:
                return None
            cursor = await conn.execute(query("task_get"), ids)
            now = await cursor.fetchone()
        # The status after the cancel: a parent whose children all ended is Cancelled.
        return TaskStatus(now[7]) if now else TaskStatus(row[1])

    async def requeue(self, tenant_id: uuid.UUID, task_id: uuid.UUID, requested_by: str) -> bool:
        """Requeue a task; a dead child reopens its completed parent."""
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute(
                query("task_requeue"),
                {"id": task_id, "tenant_id": tenant_id, "requested_by": requested_by},
            )
            row = await cursor.fetchone()
            if row is not None:
                await settle_rows(conn, [(row[0], row[2], row[3], row[1])], reopened=True)
        return row is not None


def _value(member: Any) -> str | None:
    return member.value if member is not None else None


def task_record(row: dict[str, Any]) -> TaskRecord:
    """A `tasks` row (selected with the columns of `task_get`) as a TaskRecord."""
    return TaskRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        type=row["type"],
        status=TaskStatus(row["status"]),
        priority=row["priority"],
        payload=row["payload"],
        attempt_count=row["attempt_count"],
        max_attempts=row["max_attempts"],
        scheduled_at=row["scheduled_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        progress=row["progress"],
        state=row["state"],
        metadata=row["metadata"],
        domain_type=DomainType(row["domain_type"]) if row["domain_type"] else None,
        capability_type=CapabilityType(row["capability_type"]) if row["capability_type"] else None,
        execution_type=ExecutionType(row["execution_type"]),
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        locked_until=row["locked_until"],
        locked_by=row["locked_by"],
        last_error=row["last_error"],
        timeout_seconds=row["timeout_seconds"],
        cancel_requested_at=row["cancel_requested_at"],
        correlation_id=row["correlation_id"],
        trace_id=row["trace_id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )
