"""The composition root: the only package that names concrete adapters.

Processes (API, worker, relay, dev) ask this module for what they need; it
wires settings to adapters and adapters to use cases. Nothing connects at
import time: pools are created closed and opened when a process starts serving.
The services (services.py) and the worker process (worker_process.py) are wired in modules
of their own; processes and tests import them from here.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog
from quart import Quart

from app.adapters.artifacts.local import LocalArtifactStore
from app.adapters.postgres.batch_store import PgBatchStore
from app.adapters.postgres.handler_directory import PgHandlerDirectory
from app.adapters.postgres.health_check import OutboxLagCheck, PgHealthCheck
from app.adapters.postgres.migrator import MigrationError, MigrationReport, migrate
from app.adapters.postgres.outbox import PgOutbox
from app.adapters.postgres.saga_store import PgSagaStore
from app.adapters.postgres.schedule_store import PgScheduleStore
from app.adapters.postgres.signal_store import PgSignalStore
from app.adapters.postgres.task_queries import PgTaskQueries
from app.adapters.postgres.task_repository import PgTaskRepository
from app.adapters.postgres.task_signals import PgTaskSignals
from app.adapters.postgres.tenant_repository import PgTenantRepository
from app.adapters.postgres.trigger_store import PgTriggerStore
from app.adapters.postgres.wait_store import PgWaitStore
from app.adapters.postgres.worker_registry import PgWorkerRegistry
from app.adapters.rabbitmq.publisher import PikaPublisher
from app.adapters.rabbitmq.tail import tail_events
from app.adapters.relay_metrics import RelayMetrics
from app.api import create_app
from app.api.dependencies import ApiDependencies
from app.api.streams import EventHub, StreamCaps
from app.application.auth import ensure_dev_key
from app.application.capabilities.door import CachedHandlerDirectory
from app.application.relay import Relay, RelayConfig
from app.application.waiting import WaitPolicy
from app.bootstrap.capabilities import build_ai_client, build_capability_handlers, load_prices
from app.bootstrap.preflight import EmbeddedPostgres, start_embedded_database
from app.bootstrap.services import (
    Services,
    batch_store,
    build_services,
    database_url,
    operator_health_checks,
    operator_queries,
    prune_config,
    pruner,
    running_services,
    saga_store,
    schedule_store,
    signal_store,
    tenant_repository,
    trigger_store,
    wait_store,
    worker_registry,
)
from app.bootstrap.worker_process import WorkerProcess, build_worker, default_worker_id
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
    "batch_store",
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
    "operator_health_checks",
    "operator_queries",
    "prune_config",
    "pruner",
    "rabbitmq_reachable",
    "run_migrations",
    "running_services",
    "saga_store",
    "schedule_store",
    "signal_store",
    "tail_events",
    "tenant_repository",
    "trigger_store",
    "wait_store",
    "worker_registry",
]


def embedded_database_url(settings: Settings) -> EmbeddedPostgres:
    """Start (or reuse) the embedded Postgres under EMBEDDED_DB_DIR: its URL and what
    was found there. Raises Unavailable without the `embedded` extra."""
    return start_embedded_database(settings)


async def run_migrations(url: str) -> MigrationReport:
    """Apply pending migrations to the database at `url`."""
    return await migrate(url)


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
        workers=PgWorkerRegistry(services.pool),
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
        trusted_proxies=settings.trusted_proxies,
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
