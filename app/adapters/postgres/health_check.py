"""Postgres health checks: one round trip each, bounded in time."""

from __future__ import annotations

import asyncio
from typing import Any, LiteralString

from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.migrator import PGMQ_VERSION, discover_migrations
from app.adapters.postgres.queries import query
from app.application.health import CheckResult


class _Probe:
    """Runs one query through the pool within `timeout` seconds."""

    def __init__(self, pool: AsyncConnectionPool, *, timeout: float = 2.0) -> None:
        self._pool = pool
        self._timeout = timeout

    async def _row(self, sql: LiteralString) -> tuple[Any, ...] | None:
        async with asyncio.timeout(self._timeout):
            async with self._pool.connection(timeout=self._timeout) as conn:
                cursor = await conn.execute(sql)
                row: tuple[Any, ...] | None = await cursor.fetchone()
                return row


class PgHealthCheck(_Probe):
    """The database answers through the pool and the schema is migrated."""

    name = "postgres"

    async def check(self) -> CheckResult:
        try:
            row = await self._row(query("health_database"))
        except Exception as error:  # any failure is the answer, not a crash
            return CheckResult(ok=False, detail=type(error).__name__)
        if not row or not row[0]:
            return CheckResult(ok=False, detail="schema not migrated: run `assistente migrate`")
        return CheckResult(ok=True)


class OutboxLagCheck(_Probe):
    """Reports how far the relay is behind: pending events and the oldest one's age."""

    name = "outbox"

    async def check(self) -> CheckResult:
        try:
            row = await self._row(query("outbox_lag"))
        except Exception as error:  # the postgres check already says why
            return CheckResult(ok=False, detail=type(error).__name__)
        pending, lag = (int(row[0]), float(row[1])) if row else (0, 0.0)
        # A lag is information for operators, not a reason to take the API out of service.
        return CheckResult(ok=True, info={"pendingEvents": pending, "lagSeconds": round(lag, 3)})


class MigrationsCheck(_Probe):
    """Every migration this code ships is applied (an operator's check, not the API's)."""

    name = "migrations"

    async def check(self) -> CheckResult:
        try:
            async with asyncio.timeout(self._timeout):
                async with self._pool.connection(timeout=self._timeout) as conn:
                    cursor = await conn.execute(query("operator_migration_versions"))
                    applied = {int(row[0]) for row in await cursor.fetchall()}
        except Exception as error:  # the postgres check already says why
            return CheckResult(ok=False, detail=type(error).__name__)
        shipped = {PGMQ_VERSION, *(m.version for m in discover_migrations())}
        pending = sorted(shipped - applied)
        if pending:
            return CheckResult(
                ok=False,
                detail=f"{len(pending)} pending: run `assistente migrate`",
                info={"pending": [f"{v:04d}" for v in pending]},
            )
        return CheckResult(ok=True, info={"applied": len(applied)})


class MaintenanceLeaderCheck(_Probe):
    """Some process holds the maintenance leader's lock (rescues, schedules, pruning run)."""

    name = "maintenanceLeader"

    async def check(self) -> CheckResult:
        try:
            row = await self._row(query("maintenance_leader_present"))
        except Exception as error:  # the postgres check already says why
            return CheckResult(ok=False, detail=type(error).__name__)
        if not row or not row[0]:
            return CheckResult(ok=False, detail="no maintenance leader: is a worker running?")
        return CheckResult(ok=True)
