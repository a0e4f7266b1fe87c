"""The services one process uses: its pool to Postgres (opened when it starts, watched
while it runs) and the stores short commands take from it. Part of the composition root:
import these from `app.bootstrap`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.adapters.artifacts.local import LocalArtifactStore
from app.adapters.postgres.batch_store import PgBatchStore
from app.adapters.postgres.database_watch import DatabaseWatch
from app.adapters.postgres.health_check import (
    MaintenanceLeaderCheck,
    MigrationsCheck,
    OutboxLagCheck,
    PgHealthCheck,
)
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.adapters.postgres.operator_queries import PgOperatorQueries
from app.adapters.postgres.pool import create_pool, open_pool
from app.adapters.postgres.saga_store import PgSagaStore
from app.adapters.postgres.schedule_store import PgScheduleStore
from app.adapters.postgres.signal_store import PgSignalStore
from app.adapters.postgres.task_repository import PgTaskRepository
from app.adapters.postgres.tenant_repository import PgTenantRepository
from app.adapters.postgres.trigger_store import PgTriggerStore
from app.adapters.postgres.wait_store import PgWaitStore
from app.adapters.postgres.worker_registry import PgWorkerRegistry
from app.application.health import HealthCheck
from app.application.maintenance import Maintenance, MaintenanceConfig
from app.bootstrap.preflight import find_embedded_database
from app.config import ConfigError, Settings


@dataclass(slots=True)
class Services:
    """The adapters one process uses, wired and ready to start."""

    settings: Settings
    pool: AsyncConnectionPool
    url: str
    # Logs the database going away and coming back, once each, while the process runs.
    watch: DatabaseWatch = field(init=False)
    watching: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.watch = DatabaseWatch(self.pool, self.url)

    @property
    def tasks(self) -> PgTaskRepository:
        return PgTaskRepository(self.pool)

    async def start(self, *, wait: bool = True) -> None:
        await open_pool(self.pool, wait=wait)

    async def start_in_background(self) -> None:
        """Open the pool without waiting: the API starts even while Postgres is down."""
        await self.start(wait=False)
        self._keep_watching()

    async def start_when_reachable(self, stop: asyncio.Event) -> bool:
        """Open the pool once the database answers, retrying with backoff meanwhile
        (one log line, not one per try); False if `stop` came first."""
        await self.start(wait=False)
        if not await self.watch.wait_until_reachable(stop):
            return False
        self._keep_watching()
        return True

    def _keep_watching(self) -> None:
        if self.watching is None:
            self.watching = asyncio.create_task(self.watch.run())

    async def stop(self) -> None:
        watching, self.watching = self.watching, None
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        await self.pool.close()


def database_url(settings: Settings) -> str:
    """The configured database URL; unset in Development, the embedded Postgres a running
    `assistente dev` serves under EMBEDDED_DB_DIR; else a clear error."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    embedded = find_embedded_database(settings) if settings.is_development else None
    if embedded is None:
        raise ConfigError(
            "DATABASE_URL is not set. Set it to a postgresql:// URL, or use `assistente dev`, "
            "which starts an embedded Postgres when DATABASE_URL is unset (other commands "
            f"find it in EMBEDDED_DB_DIR={settings.embedded_db_dir} while dev runs)."
        )
    return embedded


def build_services(
    settings: Settings,
    *,
    process: str,
    url: str | None = None,
    min_connections: int | None = None,
) -> Services:
    """Wire the adapters for one process."""
    min_size = max(settings.db_pool_min_size, min_connections or 0)
    pool = create_pool(
        url or database_url(settings),
        min_size=min_size,
        max_size=max(settings.db_pool_max_size, min_size),
        name=process,
        queue_worker=process == "worker",
        wait_seconds=settings.db_pool_wait_seconds,
    )
    return Services(settings=settings, pool=pool, url=url or database_url(settings))


@asynccontextmanager
async def running_services(settings: Settings, *, process: str) -> AsyncIterator[Services]:
    """Services with an open pool for a short command (closed on exit)."""
    services = build_services(settings, process=process)
    await services.start()
    try:
        yield services
    finally:
        await services.stop()


def tenant_repository(services: Services) -> PgTenantRepository:
    """Tenants over the services' pool."""
    return PgTenantRepository(services.pool)


def batch_store(services: Services, conn: AsyncConnection[Any] | None = None) -> PgBatchStore:
    """Batches over the services' pool, or inside a caller's own connection and transaction."""
    return PgBatchStore(services.pool, conn)


def saga_store(services: Services, conn: AsyncConnection[Any] | None = None) -> PgSagaStore:
    """Sagas over the services' pool, or inside a caller's own connection and transaction."""
    return PgSagaStore(services.pool, conn)


def schedule_store(services: Services) -> PgScheduleStore:
    """Schedules over the services' pool."""
    return PgScheduleStore(services.pool)


def wait_store(services: Services) -> PgWaitStore:
    """What parked tasks wait for, and decisions, over the services' pool."""
    return PgWaitStore(services.pool)


def trigger_store(services: Services) -> PgTriggerStore:
    """Triggers over the services' pool."""
    return PgTriggerStore(services.pool)


def worker_registry(services: Services) -> PgWorkerRegistry:
    """The worker registry (table workers, view worker_activity) over the services' pool."""
    return PgWorkerRegistry(services.pool)


def signal_store(services: Services, conn: AsyncConnection[Any] | None = None) -> PgSignalStore:
    """Signals over the services' pool, or inside a caller's own connection and transaction."""
    return PgSignalStore(services.pool, conn)


def operator_queries(services: Services) -> PgOperatorQueries:
    """The operator CLI's reads across tenants (also the dead letters a bulk requeue pages)."""
    return PgOperatorQueries(services.pool)


def operator_health_checks(services: Services) -> list[HealthCheck]:
    """What `assistente health` asks: Postgres, migrations, outbox lag, maintenance leader."""
    return [
        PgHealthCheck(services.pool),
        MigrationsCheck(services.pool),
        OutboxLagCheck(services.pool),
        MaintenanceLeaderCheck(services.pool),
    ]


def pruner(services: Services) -> Maintenance:
    """Maintenance as the worker wires it (retention settings, artifact store, worker
    rows), for `assistente prune` to run its prunes once; it never competes to lead."""
    settings = services.settings
    return Maintenance(
        PgMaintenanceStore(services.pool, services.url),
        prune_config(settings),
        artifacts=LocalArtifactStore(settings.artifact_dir),
        workers=PgWorkerRegistry(services.pool),
    )


def prune_config(settings: Settings) -> MaintenanceConfig:
    """The retention the settings give (RETENTION_DAYS, DEAD_LETTER_RETENTION_DAYS)."""
    return MaintenanceConfig(
        retention_seconds=settings.retention_days * 86_400,
        dead_letter_retention_seconds=settings.dead_letter_retention_days * 86_400,
    )
