"""The composition root: the only module that names concrete adapters.

Processes (API, worker, relay, dev) ask this module for what they need; it
wires settings to adapters and adapters to use cases. Nothing connects at
import time: pools are created closed and opened when a process starts serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import structlog
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from quart import Quart

from app.adapters.artifacts.local import LocalArtifactStore
from app.adapters.postgres.batch_store import PgBatchStore
from app.adapters.postgres.database_watch import DatabaseWatch
from app.adapters.postgres.handler_directory import PgHandlerDirectory
from app.adapters.postgres.health_check import OutboxLagCheck, PgHealthCheck
from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.adapters.postgres.migrator import MigrationError, MigrationReport, migrate
from app.adapters.postgres.outbox import PgOutbox
from app.adapters.postgres.pool import create_pool, open_pool
from app.adapters.postgres.saga_store import PgSagaStore
from app.adapters.postgres.schedule_store import PgScheduleStore
from app.adapters.postgres.signal_store import PgSignalStore
from app.adapters.postgres.task_queries import PgTaskQueries
from app.adapters.postgres.task_repository import PgTaskRepository
from app.adapters.postgres.task_signals import PgTaskSignals
from app.adapters.postgres.tenant_repository import PgTenantRepository
from app.adapters.postgres.trigger_store import PgTriggerStore
from app.adapters.postgres.wait_store import PgWaitStore
from app.adapters.rabbitmq.publisher import PikaPublisher
from app.adapters.rabbitmq.tail import tail_events
from app.adapters.relay_metrics import RelayMetrics
from app.api import create_app
from app.api.dependencies import ApiDependencies
from app.api.streams import EventHub, StreamCaps
from app.application.auth import ensure_dev_key
from app.application.capabilities.door import CachedHandlerDirectory
from app.application.demo import demo_handlers
from app.application.handlers import HandlerRegistry
from app.application.maintenance import Maintenance, MaintenanceConfig
from app.application.relay import Relay, RelayConfig
from app.application.schedule_keeper import KeeperConfig, ScheduleKeeper
from app.application.schedules import sync_code_schedules
from app.application.waiting import WaitPolicy
from app.application.worker import Worker, WorkerConfig
from app.bootstrap.capabilities import (
    Closer,
    build_ai_client,
    build_capability_handlers,
    load_prices,
)
from app.bootstrap.code_schedules import CodeSchedules, code_schedules
from app.bootstrap.preflight import (
    EmbeddedPostgres,
    find_embedded_database,
    start_embedded_database,
)
from app.config import ConfigError, Settings
from app.domain.inflight import InFlight
from app.domain.rate_limit import RateLimiter

log = structlog.get_logger("app.bootstrap")

__all__ = [
    "ConfigError",
    "MigrationError",
    "MigrationReport",
    "RelayProcess",
    "Services",
    "WorkerProcess",
    "build_ai_client",
    "build_api",
    "build_capability_handlers",
    "build_relay",
    "build_services",
    "build_worker",
    "database_url",
    "default_worker_id",
    "embedded_database_url",
    "load_prices",
    "rabbitmq_reachable",
    "run_migrations",
    "running_services",
    "tail_events",
    "tenant_repository",
]


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


def embedded_database_url(settings: Settings) -> EmbeddedPostgres:
    """Start (or reuse) the embedded Postgres under EMBEDDED_DB_DIR: its URL and what
    was found there. Raises Unavailable without the `embedded` extra."""
    return start_embedded_database(settings)


async def run_migrations(url: str) -> MigrationReport:
    """Apply pending migrations to the database at `url`."""
    return await migrate(url)


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


# 429s held back at once per caller (API_REFUSAL_HOLD_SECONDS); the rest go out at once.
MAX_HELD_REFUSALS_PER_CALLER = 256


def build_api(services: Services) -> Quart:
    """The Quart app over `services`; the pool opens when serving starts."""
    tenants = PgTenantRepository(services.pool)

    async def prepare_dev_key() -> None:
        key = services.settings.dev_api_key
        if key is not None:
            try:
                await ensure_dev_key(key.get_secret_value(), tenants=tenants)
            except Exception as error:  # the database may still be starting
                log.warning("dev_key_not_ready", error_type=type(error).__name__)

    settings = services.settings
    dependencies = ApiDependencies(
        tasks=PgTaskRepository(services.pool),
        queries=PgTaskQueries(services.pool),
        batches=PgBatchStore(services.pool),
        sagas=PgSagaStore(services.pool),
        schedules=PgScheduleStore(services.pool),
        waits=PgWaitStore(services.pool),
        triggers=PgTriggerStore(services.pool),
        signals=PgSignalStore(services.pool),
        signal_limiter=RateLimiter(settings.api_signals_per_second, settings.api_signals_burst)
        if settings.api_signals_per_second > 0
        else None,
        signal_retention_seconds=settings.signal_retention_seconds,
        tenants=tenants,
        health_checks=[PgHealthCheck(services.pool), OutboxLagCheck(services.pool)],
        handler_directory=CachedHandlerDirectory(PgHandlerDirectory(services.pool)),
        default_max_attempts=settings.default_max_attempts,
        rate_limiter=RateLimiter(settings.api_rate_limit_per_second, settings.api_rate_limit_burst)
        if settings.api_rate_limit_per_second > 0
        else None,
        in_flight=InFlight(settings.api_max_in_flight_per_key)
        if settings.api_max_in_flight_per_key > 0
        else None,
        refusal_hold_seconds=settings.api_refusal_hold_seconds,
        held_refusals=InFlight(MAX_HELD_REFUSALS_PER_CALLER),
        failed_auth_limiter=RateLimiter(
            settings.api_failed_auth_per_second, settings.api_failed_auth_burst
        ),
        task_limiter=RateLimiter(settings.api_tasks_per_second, settings.api_tasks_burst)
        if settings.api_tasks_per_second > 0
        else None,
        anonymous_limiter=RateLimiter(
            settings.api_anonymous_per_second, settings.api_anonymous_burst
        )
        if settings.api_anonymous_per_second > 0
        else None,
        artifacts=LocalArtifactStore(settings.artifact_dir),
        health_cache_seconds=settings.health_cache_seconds,
        waiting=WaitPolicy(
            sync_default_seconds=settings.api_sync_wait_seconds,
            max_seconds=settings.api_max_wait_seconds,
            per_key=settings.api_max_waiting_per_key,
            per_process=settings.api_max_waiting,
        ),
    )
    stream_caps = StreamCaps(
        per_key=settings.sse_max_streams_per_key,
        per_tenant=settings.sse_max_streams_per_tenant,
        per_process=settings.sse_max_streams,
    )
    return create_app(
        dependencies,
        event_hub=EventHub(PgTaskSignals(services.url).listen_events, stream_caps),
        on_startup=[services.start_in_background, prepare_dev_key],
        on_shutdown=[services.stop],
        max_payload_bytes=services.settings.max_payload_bytes,
    )


def rabbitmq_reachable(settings: Settings, *, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at AMQP_URL's host and port."""
    parts = urlsplit(settings.amqp_url.get_secret_value())
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def default_worker_id() -> str:
    """host-pid: unique per process, readable in `locked_by` and logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(slots=True)
class WorkerProcess:
    """A worker with its maintenance loop and the services they share."""

    services: Services
    worker: Worker
    maintenance: Maintenance
    # Called once the worker has stopped: the HTTP clients of the capability handlers.
    closers: list[Closer] = field(default_factory=list)
    # The schedules its handlers declare, stored (and the retired ones paused) at start.
    schedules: CodeSchedules | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Open the pool, run worker and maintenance until `stop` is set (or a burst
        worker runs out of work), close the pool. The database may be away at first:
        it waits for it (a signal ends the wait)."""
        if not await self.services.start_when_reachable(stop):
            for close in self.closers:
                await close()
            await self.services.stop()
            return
        done = asyncio.Event()

        async def work() -> None:
            try:
                await self.worker.run(stop)
            finally:
                done.set()

        async def forward_stop() -> None:
            await stop.wait()
            done.set()

        forwarder = asyncio.create_task(forward_stop())
        syncing = asyncio.create_task(self._sync_schedules(done))
        try:
            await asyncio.gather(work(), self.maintenance.run(done))
        finally:
            forwarder.cancel()
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
            for close in self.closers:
                await close()
            await self.services.stop()

    async def _sync_schedules(self, stop: asyncio.Event) -> None:
        if self.schedules is not None:
            await sync_code_schedules(
                self.schedules.declared,
                self.schedules.handled_types,
                schedules=PgScheduleStore(self.services.pool),
                stop=stop,
            )


def build_worker(
    settings: Settings,
    registry: HandlerRegistry | None = None,
    *,
    url: str | None = None,
    worker_id: str | None = None,
    concurrency: int | None = None,
    burst: bool = False,
) -> WorkerProcess:
    """Wire a worker: the given handlers, the built-in capability handlers for task
    types without one, and the demo handlers when enabled."""
    handlers = HandlerRegistry()
    if registry is not None:
        handlers.include(registry)
    # One store: handlers write large outputs to it, maintenance deletes pruned ones.
    artifacts = LocalArtifactStore(settings.artifact_dir)
    capabilities, closers = build_capability_handlers(settings, artifacts)
    handlers.include(capabilities)  # a capability handler of `registry` comes first
    if settings.demo_tasks:
        for task_type in demo_handlers:
            if task_type not in handlers:
                spec = demo_handlers.resolve(task_type, None)
                assert spec is not None
                handlers.register(task_type, spec.func, executor=spec.executor)
    concurrency = concurrency or settings.worker_concurrency
    # Claiming, finishing, keeping leases and maintenance each hold a connection at once.
    services = build_services(settings, process="worker", url=url, min_connections=4)
    config = WorkerConfig(
        worker_id=worker_id or settings.worker_id or default_worker_id(),
        concurrency=concurrency,
        lease_seconds=settings.worker_lease_seconds,
        poll_interval=settings.worker_poll_interval_seconds,
        shutdown_grace=settings.worker_shutdown_grace_seconds,
        default_timeout=settings.job_timeout_seconds,
        burst=burst,
        prefetch=settings.worker_prefetch,
    )
    worker = Worker(
        handlers,
        store=PgLeaseStore(services.pool),
        signals=PgTaskSignals(services.url),
        config=config,
        directory=PgHandlerDirectory(services.pool),
    )
    maintenance = Maintenance(
        PgMaintenanceStore(services.pool, services.url),
        MaintenanceConfig(
            retention_seconds=settings.retention_days * 86_400,
            dead_letter_retention_seconds=settings.dead_letter_retention_days * 86_400,
        ),
        artifacts=artifacts,
        schedules=ScheduleKeeper(
            PgScheduleStore(services.pool),
            KeeperConfig(catch_up_seconds=settings.schedule_catch_up_seconds),
        ),
    )
    schedules = code_schedules(handlers, default_max_attempts=settings.default_max_attempts)
    return WorkerProcess(services, worker, maintenance, closers, schedules)


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


def signal_store(services: Services, conn: AsyncConnection[Any] | None = None) -> PgSignalStore:
    """Signals over the services' pool, or inside a caller's own connection and transaction."""
    return PgSignalStore(services.pool, conn)


@dataclass(slots=True)
class RelayProcess:
    """The outbox relay with the services it uses."""

    services: Services
    relay: Relay
    metrics: RelayMetrics
    metrics_port: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; waits for the database first if it is away."""
        if not await self.services.start_when_reachable(stop):
            await self.relay.close()
            await self.services.stop()
            return
        if self.metrics_port:
            self.metrics.serve(self.metrics_port)
        try:
            await asyncio.gather(self.relay.run(stop), self.metrics.run(stop))
        finally:
            await self.services.stop()


def build_relay(settings: Settings, *, url: str | None = None) -> RelayProcess:
    """Wire the outbox relay: PGMQ outbox in, RabbitMQ topic exchange out."""
    services = build_services(settings, process="relay", url=url, min_connections=2)
    outbox = PgOutbox(services.pool, services.url)
    relay = Relay(
        outbox,
        PikaPublisher(settings.amqp_url.get_secret_value(), settings.relay_exchange),
        RelayConfig(
            batch_size=settings.relay_batch_size,
            vt_seconds=settings.relay_visibility_timeout_seconds,
            retention_seconds=settings.retention_days * 86_400,
        ),
    )
    return RelayProcess(
        services, relay, RelayMetrics(relay, outbox), settings.relay_metrics_port or None
    )
