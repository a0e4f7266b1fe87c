"""PgWorkerRegistry: the workers table and the worker_activity view."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.queries import query
from app.application.worker_registry import WorkerInfo, WorkerRegistration


class PgWorkerRegistry:
    """WorkerRegistry and WorkerDirectory over a psycopg pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def register(self, registration: WorkerRegistration) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                query("worker_register"),
                {
                    "id": registration.worker_id,
                    "host": registration.host,
                    "pid": registration.pid,
                    "version": registration.version,
                    "concurrency": registration.concurrency,
                    "heartbeat_seconds": registration.heartbeat_seconds,
                    "lease_seconds": registration.lease_seconds,
                },
            )

    async def heartbeat(self, worker_id: str) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("worker_heartbeat"), {"id": worker_id})
            return await cursor.fetchone() is not None

    async def stop(self, worker_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(query("worker_stop"), {"id": worker_id})

    async def list(self) -> Sequence[WorkerInfo]:
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=class_row(WorkerInfo))
            await cursor.execute(query("worker_list"))
            return await cursor.fetchall()

    async def mark_dead(self) -> Sequence[str]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("worker_mark_dead"))
            return [row[0] for row in await cursor.fetchall()]

    async def prune(self, retention_seconds: float) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                query("worker_prune"), {"retention_seconds": retention_seconds}
            )
            return cursor.rowcount
