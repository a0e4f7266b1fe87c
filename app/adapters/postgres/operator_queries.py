"""PgOperatorQueries: what the operator CLI reads across tenants (tasks, dead letters, the
schema's migrations, the maintenance leader)."""

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
