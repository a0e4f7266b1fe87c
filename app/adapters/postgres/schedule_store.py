"""PgScheduleStore: schedules (cron) in Postgres; their ticks' tasks go in through the
tasks' own insert (task_enqueue_many, via PgTaskRepository)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.connection_scope import ConnectionScope
from app.adapters.postgres.queries import query
from app.adapters.postgres.task_repository import PgTaskRepository
from app.application.schedules import (
    Advance,
    CodeSchedule,
    CreateSchedule,
    ScheduleRecord,
    SyncReport,
    TickTask,
    task_spec,
)
from app.application.task_repository import NewTask
from app.domain.ids import new_task_id
from app.domain.schedules import MissedPolicy, check_timezone, next_tick


class PgScheduleStore(ConnectionScope):
    """ScheduleStore over a pool, or over one connection (a caller's own transaction)."""

    async def now(self) -> datetime:
        async with self._connection() as conn:
            cursor = await conn.execute(query("database_now"))
            row = await cursor.fetchone()
        assert row is not None
        found: datetime = row[0]
        return found

    async def create(
        self, schedule_id: uuid.UUID, command: CreateSchedule, next_run_at: datetime
    ) -> ScheduleRecord | None:
        params = {
            "id": schedule_id,
            "tenant_id": command.tenant_id,
            "name": command.name,
            "cron": command.cron,
            "timezone": command.timezone,
            "task": Jsonb(task_spec(command.task)),
            "missed": command.missed.value,
            "paused": command.paused,
            "next_run_at": next_run_at,
        }
        return await self._one("schedule_create", params)

    async def get(self, tenant_id: uuid.UUID, schedule_id: uuid.UUID) -> ScheduleRecord | None:
        return await self._one("schedule_get", {"id": schedule_id, "tenant_id": tenant_id})

    async def page(
        self, tenant_id: uuid.UUID | None, *, after: str | None, limit: int
    ) -> list[ScheduleRecord]:
        params = {"tenant_id": tenant_id, "after": after, "limit": limit}
        return await self._all("schedule_list", params)

    async def set_paused(
        self,
        tenant_id: uuid.UUID,
        schedule_id: uuid.UUID,
        paused: bool,
        next_run_at: datetime | None,
    ) -> ScheduleRecord | None:
        params = {
            "id": schedule_id,
            "tenant_id": tenant_id,
            "paused": paused,
            "next_run_at": next_run_at,
        }
        return await self._one("schedule_set_paused", params)

    async def delete(self, tenant_id: uuid.UUID, schedule_id: uuid.UUID) -> bool:
        async with self._connection() as conn:
            cursor = await conn.execute(
                query("schedule_delete"), {"id": schedule_id, "tenant_id": tenant_id}
            )
            return await cursor.fetchone() is not None

    async def lock_due(self, now: datetime, limit: int) -> list[ScheduleRecord]:
        return await self._all("schedule_lock_due", {"now": now, "limit": limit})

    async def start_ticks(self, ticks: Sequence[TickTask]) -> int:
        async with self._connection() as conn:
            # The tasks' own insert, in this transaction: the same defaults and events.
            # (The repository's pool is unused while it is given a connection.)
            tasks = PgTaskRepository(cast(AsyncConnectionPool, self._pool), conn)
            inserted = await tasks.add_many([NewTask(t.task_id, t.command) for t in ticks])
            new = {task.id for task in inserted}
            marks = [
                {
                    "task_id": str(t.task_id),
                    "schedule_id": str(t.schedule_id),
                    "tick": t.tick.isoformat(),
                }
                for t in ticks
                if t.task_id in new
            ]
            if marks:
                await conn.execute(query("schedule_tick_mark"), {"marks": Jsonb(marks)})
        return len(inserted)

    async def advance(self, advances: Sequence[Advance]) -> None:
        rows = [
            {
                "id": str(a.schedule_id),
                "next_run_at": a.next_run_at.isoformat(),
                "last_tick_at": a.last_tick_at.isoformat() if a.last_tick_at else None,
            }
            for a in advances
        ]
        async with self._connection() as conn:
            await conn.execute(query("schedule_advance"), {"advances": Jsonb(rows)})

    async def sync_code(
        self, declared: Sequence[CodeSchedule], handled_types: Collection[str], now: datetime
    ) -> SyncReport:
        rows = [
            {
                "id": str(new_task_id()),
                "tenant_id": str(s.tenant_id),
                "name": s.name,
                "cron": s.cron,
                "timezone": s.timezone,
                "task": task_spec(s.task),
                "missed": s.missed.value,
                "next_run_at": next_tick(s.cron, check_timezone(s.timezone), now).isoformat(),
            }
            for s in declared
        ]
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute(query("schedule_code_upsert"), {"schedules": Jsonb(rows)})
            written = [(row[0], row[1]) for row in await cursor.fetchall()]
            cursor = await conn.execute(
                query("schedule_code_retire"),
                {
                    "types": sorted(handled_types),
                    "tenant_ids": [s.tenant_id for s in declared],
                    "names": [s.name for s in declared],
                },
            )
            retired = [(row[0], row[1]) for row in await cursor.fetchall()]
        return SyncReport(written=written, retired=retired)

    async def _one(self, name: str, params: dict[str, Any]) -> ScheduleRecord | None:
        rows = await self._all(name, params)
        return rows[0] if rows else None

    async def _all(self, name: str, params: dict[str, Any]) -> list[ScheduleRecord]:
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query(name), params)
            rows = await cur.fetchall()
        return [schedule_record(row) for row in rows]


def schedule_record(row: dict[str, Any]) -> ScheduleRecord:
    """A `schedules` row as a ScheduleRecord."""
    return ScheduleRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        cron=row["cron"],
        timezone=row["timezone"],
        task=row["task"],
        missed=MissedPolicy(row["missed"]),
        paused=row["paused"],
        next_run_at=row["next_run_at"].astimezone(UTC),
        last_tick_at=row["last_tick_at"],
        source=row["source"],
        retired_at=row["retired_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
