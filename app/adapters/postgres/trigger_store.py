"""PgTriggerStore: triggers (task_triggers) in Postgres. The firing is the database's own
(migration 0017): this store only keeps the rows it reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.adapters.postgres.connection_scope import ConnectionScope
from app.adapters.postgres.queries import query
from app.application.triggers import CreateTrigger, TriggerRecord
from app.domain.enums import TaskStatus
from app.domain.triggers import EventFilter, TriggerKind

# Far more than a tenant is allowed (app.domain.triggers.MAX_TRIGGERS): the list is whole.
LIST_LIMIT = 10_000


class PgTriggerStore(ConnectionScope):
    """TriggerStore over a pool, or over one connection (a caller's own transaction)."""

    async def create(self, trigger_id: uuid.UUID, command: CreateTrigger) -> TriggerRecord | None:
        events = command.events
        params = {
            "id": trigger_id,
            "tenant_id": command.tenant_id,
            "name": command.name,
            "on_kind": command.kind.value,
            "event_types": list(events.event_types) if events.event_types is not None else None,
            "statuses": [s.value for s in events.statuses] if events.statuses is not None else None,
            "task_types": list(events.task_types) if events.task_types is not None else None,
            "signal_name": command.signal_name,
            "task": Jsonb(dict(command.task)),
        }
        return await self._one("trigger_create", params)

    async def get(self, tenant_id: uuid.UUID, trigger_id: uuid.UUID) -> TriggerRecord | None:
        return await self._one("trigger_get", {"id": trigger_id, "tenant_id": tenant_id})

    async def list(self, tenant_id: uuid.UUID) -> Sequence[TriggerRecord]:
        params = {"tenant_id": tenant_id, "limit": LIST_LIMIT}
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("trigger_list"), params)
            return [trigger_record(row) for row in await cur.fetchall()]

    async def set_active(
        self, tenant_id: uuid.UUID, trigger_id: uuid.UUID, active: bool
    ) -> TriggerRecord | None:
        params = {"id": trigger_id, "tenant_id": tenant_id, "active": active}
        return await self._one("trigger_set_active", params)

    async def delete(self, tenant_id: uuid.UUID, trigger_id: uuid.UUID) -> bool:
        async with self._connection() as conn:
            cursor = await conn.execute(
                query("trigger_delete"), {"id": trigger_id, "tenant_id": tenant_id}
            )
            return await cursor.fetchone() is not None

    async def _one(self, name: str, params: dict[str, Any]) -> TriggerRecord | None:
        async with self._connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query(name), params)
            row = await cur.fetchone()
        return trigger_record(row) if row is not None else None


def trigger_record(row: dict[str, Any]) -> TriggerRecord:
    """A task_triggers row as the use cases see it."""
    statuses = row["statuses"]
    return TriggerRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        kind=TriggerKind(row["on_kind"]),
        events=EventFilter(
            event_types=row["event_types"],
            statuses=[TaskStatus(s) for s in statuses] if statuses is not None else None,
            task_types=row["task_types"],
        ),
        signal_name=row["signal_name"],
        task=row["task"],
        active=row["active"],
        fired_count=row["fired_count"],
        last_fired_at=row["last_fired_at"],
        skipped_count=row["skipped_count"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
