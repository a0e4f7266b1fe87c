"""PgWaitStore: what parked tasks wait for, and people's decisions on them, in Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.adapters.postgres.connection_scope import ConnectionScope
from app.adapters.postgres.dependency_settle import settle_rows
from app.adapters.postgres.queries import query
from app.adapters.postgres.task_repository import task_record
from app.application.decisions import (
    DecideTask,
    LockedTask,
    ParkedTask,
    PastDecision,
    TaskWait,
)
from app.application.task_repository import TaskRecord
from app.domain.enums import TaskStatus

FILTERS = ("status", "type", "domain_type", "capability_type")


class PgWaitStore(ConnectionScope):
    """WaitStore over a pool, or over one connection (a caller's own transaction)."""

    async def lock(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> LockedTask | None:
        params = {"tenant_id": tenant_id, "task_id": task_id}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("task_wait_lock"), params)
            row = await cur.fetchone()
        if row is None:
            return None
        wait = _wait(task_id, row) if row["kind"] is not None else None
        return LockedTask(TaskStatus(row["status"]), wait)

    async def decide(self, command: DecideTask) -> TaskStatus | None:
        params = {
            "tenant_id": command.tenant_id,
            "task_id": command.task_id,
            "decision": command.decision,
            "comment": command.comment,
            "input": Jsonb(command.input) if command.input is not None else None,
            "key_id": command.api_key_id,
            "decided_by": command.decided_by,
        }
        async with self._connection() as conn:
            cursor = await conn.execute(query("task_decide"), params)
            row = await cursor.fetchone()
            assert row is not None
            outcome, status, parent_id, _kind = row
            if outcome != "decided":
                return None
            # A child an approval's rejection cancelled ends: its parent counts it now.
            await settle_rows(conn, [(command.task_id, parent_id, command.tenant_id, status)])
        return TaskStatus(status)

    async def last_decision(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> PastDecision | None:
        params = {"tenant_id": tenant_id, "task_id": task_id}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("task_decision_last"), params)
            row = await cur.fetchone()
        if row is None:
            return None
        return PastDecision(
            row["wait_key"],
            row["decision"],
            row["decided_by"],
            row["decided_by_key_id"],
            row["decided_at"],
        )

    async def waits_of(
        self, tenant_id: uuid.UUID, task_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, TaskWait]:
        if not task_ids:
            return {}
        params = {"tenant_id": tenant_id, "task_ids": list(task_ids)}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("task_wait_list"), params)
            rows = await cur.fetchall()
        return {row["task_id"]: _wait(row["task_id"], row) for row in rows}

    async def list_waiting(
        self,
        tenant_id: uuid.UUID,
        kinds: Collection[str],
        filters: Mapping[str, Any],
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[TaskRecord], int]:
        params: dict[str, Any] = {name: filters.get(name) for name in FILTERS}
        params.update(tenant_id=tenant_id, kinds=list(kinds), limit=limit, offset=offset)
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("task_list_waiting"), params)
            rows = await cur.fetchall()
            if rows:
                return [task_record(row) for row in rows], int(rows[0]["total"])
            await cur.execute(query("task_count_waiting"), params)
            count = await cur.fetchone()
        assert count is not None
        return [], int(count["count"])

    async def parked(self, tenant_id: uuid.UUID | None, *, limit: int) -> list[ParkedTask]:
        params = {"tenant_id": tenant_id, "limit": limit}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("task_waiting_list"), params)
            rows = await cur.fetchall()
        return [
            ParkedTask(
                task_id=row["task_id"],
                tenant_id=row["tenant_id"],
                type=row["type"],
                wait_reason=row["wait_reason"],
                since=row["since"],
                waiting=row["waiting_for"],
                kind=row["kind"],
                question=row["question"],
                signal_name=row["signal_name"],
                signal_key=row["signal_key"],
                deadline_at=row["deadline_at"],
                on_deadline=row["on_deadline"],
                parent_id=row["parent_id"],
            )
            for row in rows
        ]


def _wait(task_id: uuid.UUID, row: Mapping[str, Any]) -> TaskWait:
    return TaskWait(
        task_id=task_id,
        kind=row["kind"],
        wait_key=row["wait_key"],
        since=row["since"],
        on_deadline=row["on_deadline"],
        question=row["question"],
        schema=row["input_schema"],
        signal_name=row["signal_name"],
        signal_key=row["signal_key"],
        deadline_at=row["deadline_at"],
    )
