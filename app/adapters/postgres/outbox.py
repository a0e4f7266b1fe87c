"""PgOutbox: the PGMQ outbox queue, read and archived by the active relay."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.leadership import AdvisoryLeadership
from app.adapters.postgres.queries import query
from app.domain.outbox_delivery import Hold, OutboxEvent, OutboxMessage


class PgOutbox:
    """Outbox over a psycopg pool; the active-relay lock on a session of its own."""

    def __init__(self, pool: AsyncConnectionPool, conninfo: str) -> None:
        self._pool = pool
        self._leadership = AdvisoryLeadership(
            conninfo,
            lock_query=query("outbox_relay_try_lead"),
            application_name="assistente-relay",
            raise_when_unreachable=True,
        )

    async def try_lead(self) -> bool:
        return await self._leadership.try_lead()

    async def resign(self) -> None:
        await self._leadership.resign()

    async def reclaim(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(query("outbox_reclaim"))

    async def read(self, limit: int, max_events: int, vt_seconds: int) -> list[OutboxMessage]:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                query("outbox_read"),
                {"limit": limit, "max_events": max_events, "vt_seconds": vt_seconds},
            )
            rows = await cur.fetchall()
        # One row per event, ordered by message.
        return [_message(list(group)) for _, group in groupby(rows, key=itemgetter("msg_id"))]

    async def settle(
        self, archive: Sequence[int], holds: Sequence[Hold], refusal_delay: float
    ) -> dict[int, int]:
        params = {
            "archive": list(archive),
            "event_ids": [h.event.id for h in holds],
            "task_ids": [h.event.task_id for h in holds],
            "delays": [refusal_delay if h.error else 0.0 for h in holds],
            "headers": [
                Jsonb({"lastError": h.error[:1000], "refusals": 1}) if h.error else None
                for h in holds
            ],
        }
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("outbox_settle"), params)
            rows = await cursor.fetchall()
        return {event_id: msg_id for msg_id, event_id in rows if event_id is not None}

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


def _message(rows: list[dict[str, Any]]) -> OutboxMessage:
    """One message from its rows (one per event; a single row without an event when the
    message has none left)."""
    first = rows[0]
    headers = first["headers"] or {}
    msg_id = first["msg_id"]
    events = tuple(
        OutboxEvent(
            id=row["event_id"] if row["event_id"] is not None else -msg_id,
            message_id=msg_id,
            task_id=str(row["task_id"]),
            body=row["content"],
            held_behind=bool(row["held"]),
        )
        for row in rows
        if row["content"] is not None
    )
    # A message of one event (a held message, or one written before batches existed)
    # counts its refusals, and is set aside once its event is gone.
    single = not first["batch"]
    return OutboxMessage(
        id=msg_id,
        reads=first["read_ct"],
        enqueued_at=first["enqueued_at"],
        events=events,
        held=single,
        refusals=int(headers.get("refusals", 0)),
        gone=single and not events,
    )
