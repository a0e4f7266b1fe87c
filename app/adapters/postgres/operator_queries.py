"""PgOperatorQueries: what the operator CLI reads across tenants (tasks, dead letters, the
schema's migrations, the maintenance leader, the queue's numbers, what a prune would delete)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, LiteralString

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.queries import query
from app.application.dead_letters import DeadLetterFilter


class PgOperatorQueries:
    """The operator's reads, over a psycopg pool; also the DeadLetters port."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def tasks(
        self,
        *,
        tenant_id: uuid.UUID | None,
        status: str | None,
        type: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The newest tasks matching the filters."""
        params = {"tenant_id": tenant_id, "status": status, "type": type, "limit": limit}
        return await self._rows(query("operator_task_list"), params)

    async def page(
        self,
        which: DeadLetterFilter,
        *,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        params = {
            **_filter(which),
            "after_finished": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        }
        return await self._rows(query("operator_dead_letter_list"), params)

    async def count(self, which: DeadLetterFilter) -> int:
        [row] = await self._rows(query("operator_dead_letter_count"), _filter(which))
        return int(row["count"])

    async def applied_migrations(self) -> list[int]:
        """The versions recorded as applied."""
        rows = await self._rows(query("operator_migration_versions"), {})
        return [int(row["version"]) for row in rows]

    async def maintenance_leader_present(self) -> bool:
        """Whether a maintenance leader holds its lock now."""
        [row] = await self._rows(query("maintenance_leader_present"), {})
        return bool(row["present"])

    async def queue_stats(self, tenant_id: uuid.UUID | None) -> dict[str, Any]:
        """GET /api/v1/queue/stats's numbers (query queue_stats), for one tenant or all."""
        [row] = await self._rows(query("queue_stats"), {"tenant_id": tenant_id})
        return row

    async def parked(self, tenant_id: uuid.UUID | None) -> dict[str, int]:
        """Parked tasks (view task_waiting) by why they wait."""
        rows = await self._rows(query("operator_parked_count"), {"tenant_id": tenant_id})
        return {row["reason"]: int(row["count"]) for row in rows}

    async def worker_summary(self) -> dict[str, int]:
        """Running workers, their slots and the tasks they hold (view worker_activity)."""
        [row] = await self._rows(query("operator_worker_summary"), {})
        return {key: int(value) for key, value in row.items()}

    async def prunable(
        self,
        *,
        retention_seconds: float,
        dead_letter_retention_seconds: float,
        worker_retention_seconds: float,
    ) -> dict[str, int]:
        """What a prune would delete now: tasks, tasks with stored files, signals, worker
        rows; deletes nothing."""
        params = {
            "retention_seconds": retention_seconds,
            "dead_letter_retention_seconds": dead_letter_retention_seconds,
            "worker_retention_seconds": worker_retention_seconds,
        }
        [row] = await self._rows(query("operator_prune_count"), params)
        return {key: int(value) for key, value in row.items()}

    async def _rows(self, sql: LiteralString, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(sql, params)
            return await cursor.fetchall()


def _filter(which: DeadLetterFilter) -> dict[str, Any]:
    return {
        "tenant_id": which.tenant_id,
        "type": which.type,
        "error_code": which.error_code,
        "since": which.since,
        "until": which.until,
    }
