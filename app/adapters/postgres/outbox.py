"""PgOutbox: the PGMQ outbox queue, read and archived by the active relay."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.leadership import AdvisoryLeadership
from app.adapters.postgres.queries import query
from app.application.relay import OutboxMessage

EVENT_GONE = "its event was pruned before it was published"


class PgOutbox:
    """Outbox over a psycopg pool; the active-relay lock on a session of its own."""

    def __init__(self, pool: AsyncConnectionPool, conninfo: str) -> None:
        self._pool = pool
        self._leadership = AdvisoryLeadership(
            conninfo, lock_query=query("outbox_relay_try_lead"), application_name="assistente-relay"
        )

    async def try_lead(self) -> bool:
        return await self._leadership.try_lead()

    async def resign(self) -> None:
        await self._leadership.resign()

    async def reclaim(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(query("outbox_reclaim"))

    async def read(self, limit: int, vt_seconds: int) -> list[OutboxMessage]:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("outbox_read"), {"limit": limit, "vt_seconds": vt_seconds})
            rows = await cur.fetchall()
        # A pointer whose event was pruned before it was published has nothing to say.
        for row in rows:
            if row["message"] is None:
                await self.set_aside(row["msg_id"], EVENT_GONE)
        return [
            OutboxMessage(
                row["msg_id"],
                row["read_ct"],
                row["enqueued_at"],
                row["message"],
                refusals=int((row["headers"] or {}).get("refusals", 0)),
            )
            for row in sorted(rows, key=lambda r: r["msg_id"])
            if row["message"] is not None
        ]

    async def archive(self, ids: Sequence[int]) -> None:
        if ids:
            async with self._pool.connection() as conn:
                await conn.execute(query("outbox_archive"), {"ids": list(ids)})

    async def release(self, ids: Sequence[int]) -> None:
        if ids:
            async with self._pool.connection() as conn:
                await conn.execute(query("outbox_release"), {"ids": list(ids)})

    async def note_refusal(self, message_id: int, error: str, delay_seconds: float) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                query("outbox_note_refusal"),
                {"id": message_id, "error": error[:1000], "delay_seconds": delay_seconds},
            )

    async def set_aside(self, message_id: int, error: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(query("outbox_set_aside"), {"id": message_id, "error": error[:1000]})

    async def lag(self) -> tuple[int, float]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("outbox_lag"))
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0]), float(row[1])

    async def prune_published(self, retention_seconds: float, limit: int) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                query("outbox_prune_published"),
                {"retention_seconds": retention_seconds, "limit": limit},
            )
            return cursor.rowcount
