"""PgHandlerDirectory: the task types workers have registered handlers for."""

from __future__ import annotations

from collections.abc import Collection

from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.queries import query
from app.application.handlers import HandledTypes
from app.domain.enums import CapabilityType


class PgHandlerDirectory:
    """HandlerDirectory over a psycopg pool (table task_handlers)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def record(
        self, worker_id: str, types: Collection[str], capabilities: Collection[CapabilityType]
    ) -> None:
        names = [*types, *(str(c) for c in capabilities)]
        kinds = ["type"] * len(types) + ["capability"] * len(capabilities)
        if not names:
            return
        async with self._pool.connection() as conn:
            await conn.execute(
                query("task_handler_register"),
                {"worker_id": worker_id, "kinds": kinds, "names": names},
            )

    async def handled(self) -> HandledTypes:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("task_handler_list"))
            rows = await cursor.fetchall()
        types = frozenset(name for kind, name in rows if kind == "type")
        known = {str(c): c for c in CapabilityType}
        capabilities = frozenset(
            known[name] for kind, name in rows if kind == "capability" and name in known
        )
        return HandledTypes(types=types, capabilities=capabilities)
