"""PgTaskQueries: the read side of tasks for the API."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any, LiteralString

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.queries import query
from app.adapters.postgres.task_repository import task_record
from app.application.task_repository import TaskRecord

FILTERS = ("status", "type", "domain_type", "capability_type")


class PgTaskQueries:
    """TaskQueries over a psycopg pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def list_tasks(
        self, tenant_id: uuid.UUID, filters: Mapping[str, Any], *, limit: int, offset: int
    ) -> tuple[list[TaskRecord], int]:
        params = {name: filters.get(name) for name in FILTERS}
        params.update(tenant_id=tenant_id, limit=limit, offset=offset)
        rows = await self._rows(query("task_list"), params)
        if rows:
            return [task_record(row) for row in rows], int(rows[0]["total"])
        [count] = await self._rows(query("task_count"), params)
        return [], int(count["count"])

    async def result(self, task_id: uuid.UUID) -> str | None:
        return (await self.results([task_id])).get(task_id)

    async def results(self, task_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await self._rows(query("task_result_list"), {"task_ids": list(task_ids)})
        return {row["task_id"]: row["content"] for row in rows}

    async def attempts(self, task_id: uuid.UUID) -> list[dict[str, Any]]:
        return await self._rows(query("task_attempt_list"), {"task_id": task_id})

    async def artifacts(self, task_id: uuid.UUID) -> list[dict[str, Any]]:
        return await self._rows(query("task_artifact_list"), {"task_id": task_id})

    async def artifact(self, task_id: uuid.UUID, artifact_id: uuid.UUID) -> dict[str, Any] | None:
        rows = await self._rows(query("task_artifact_get"), {"task_id": task_id, "id": artifact_id})
        return rows[0] if rows else None

    async def events_after(self, task_id: uuid.UUID, after_id: int) -> list[dict[str, Any]]:
        return await self._rows(
            query("task_event_list_after"), {"task_id": task_id, "after_id": after_id}
        )

    async def tenant_events_after(
        self, tenant_id: uuid.UUID, after_id: int
    ) -> list[dict[str, Any]]:
        return await self._rows(
            query("tenant_event_list_after"), {"tenant_id": tenant_id, "after_id": after_id}
        )

    async def tenant_last_event_id(self, tenant_id: uuid.UUID) -> int:
        [row] = await self._rows(query("tenant_event_last_id"), {"tenant_id": tenant_id})
        return int(row["last_id"])

    async def stats(self, tenant_id: uuid.UUID | None) -> dict[str, Any]:
        [row] = await self._rows(query("queue_stats"), {"tenant_id": tenant_id})
        return row

    async def usage_daily(
        self, tenant_id: uuid.UUID, first_day: date, last_day: date
    ) -> list[dict[str, Any]]:
        return await self._rows(
            query("usage_daily_list"),
            {"tenant_id": tenant_id, "first_day": first_day, "last_day": last_day},
        )

    async def _rows(self, sql: LiteralString, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchall()
