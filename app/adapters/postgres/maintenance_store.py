"""PgMaintenanceStore: leader election by advisory lock, and the periodic queries."""

from __future__ import annotations

import uuid
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.dependency_settle import settle_rows
from app.adapters.postgres.leadership import AdvisoryLeadership
from app.adapters.postgres.queries import query


class PgMaintenanceStore:
    """MaintenanceStore; leadership lives on a dedicated session so it ends with the process."""

    def __init__(self, pool: AsyncConnectionPool, conninfo: str) -> None:
        self._pool = pool
        self._leadership = AdvisoryLeadership(
            conninfo,
            lock_query=query("maintenance_try_lead"),
            application_name="assistente-maintenance",
        )

    async def try_lead(self) -> bool:
        return await self._leadership.try_lead()

    async def resign(self) -> None:
        await self._leadership.resign()

    async def rescue_expired(self, limit: int) -> int:
        # One transaction: a rescued child that ends (dead-lettered, cancelled) settles
        # its parent with it.
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(query("task_rescue_expired"), {"limit": limit})
            rows = await cursor.fetchall()
            await settle_rows(
                conn, [(task, parent, tenant, status) for task, status, parent, tenant in rows]
            )
        return len(rows)

    async def expire_waits(self, limit: int) -> int:
        # One transaction: a parked child the deadline ends (cancelled, dead-lettered)
        # settles its parent with it. The sweep locks each task (SKIP LOCKED) and
        # re-reads its wait, so a decision being made meanwhile wins, and each wait
        # ends once.
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(query("task_waits_expire"), {"limit": limit})
            rows = await cursor.fetchall()
            await settle_rows(conn, rows)
        return len(rows)

    async def prune_signals(self, limit: int) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("signal_prune_expired"), {"limit": limit})
            return cursor.rowcount

    async def wake_due(self, since: datetime) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(query("task_wake_due"), {"since": since})

    async def prune_finished(
        self, retention_seconds: float, dead_letter_retention_seconds: float, limit: int
    ) -> list[uuid.UUID]:
        # Committed when this returns (the pool autocommits; it would commit leaving the block).
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                query("task_prune_finished"),
                {
                    "retention_seconds": retention_seconds,
                    "dead_letter_retention_seconds": dead_letter_retention_seconds,
                    "limit": limit,
                },
            )
            return [row[0] for row in await cursor.fetchall()]

    async def now(self) -> datetime:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("database_now"))
            row = await cursor.fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]
