"""PgMaintenanceStore: leader election by advisory lock, and the periodic queries."""

from __future__ import annotations

import asyncio
from datetime import datetime

import psycopg
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.queries import query

CONNECT_SECONDS = 5
PING_SECONDS = 5


class PgMaintenanceStore:
    """MaintenanceStore; leadership lives on a dedicated session so it ends with the process."""

    def __init__(self, pool: AsyncConnectionPool, conninfo: str) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._leader_conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def try_lead(self) -> bool:
        conn = self._leader_conn
        if conn is not None:
            try:
                async with asyncio.timeout(PING_SECONDS):
                    await conn.execute(query("signals_ping"))
                return True
            except (psycopg.Error, TimeoutError):
                # The session (and with it the lock) is gone: compete again.
                await self._drop_leader_conn()
        try:
            async with asyncio.timeout(CONNECT_SECONDS * 2):
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    application_name="assistente-maintenance",
                    connect_timeout=CONNECT_SECONDS,
                    # Our side notices a dead server quickly...
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                )
        except (psycopg.Error, TimeoutError):
            return False
        try:
            # ...and the server notices a dead leader host the same way, so its lock
            # is freed in under a minute instead of after the OS default of hours.
            await conn.execute(query("maintenance_session_keepalives"))
            cursor = await conn.execute(query("maintenance_try_lead"))
            row = await cursor.fetchone()
        except psycopg.Error:
            await conn.close()
            return False
        if row and row[0]:
            self._leader_conn = conn
            return True
        await conn.close()
        return False

    async def resign(self) -> None:
        await self._drop_leader_conn()

    async def _drop_leader_conn(self) -> None:
        conn, self._leader_conn = self._leader_conn, None
        if conn is not None:
            await conn.close()

    async def rescue_expired(self, limit: int) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("task_rescue_expired"), {"limit": limit})
            return len(await cursor.fetchall())

    async def wake_due(self, since: datetime) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(query("task_wake_due"), {"since": since})

    async def prune_finished(
        self, retention_seconds: float, dead_letter_retention_seconds: float, limit: int
    ) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                query("task_prune_finished"),
                {
                    "retention_seconds": retention_seconds,
                    "dead_letter_retention_seconds": dead_letter_retention_seconds,
                    "limit": limit,
                },
            )
            return cursor.rowcount

    async def now(self) -> datetime:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("database_now"))
            row = await cursor.fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]
