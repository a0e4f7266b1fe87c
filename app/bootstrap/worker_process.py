"""The worker process: a worker, its maintenance loop and the schedules its handlers
declare, wired over one set of services. Part of the composition root: import these from
`app.bootstrap`."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import socket
from dataclasses import dataclass, field

from app.adapters.artifacts.local import LocalArtifactStore
from app.adapters.postgres.handler_directory import PgHandlerDirectory
from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.adapters.postgres.schedule_store import PgScheduleStore
from app.adapters.postgres.task_signals import PgTaskSignals
from app.adapters.postgres.worker_registry import PgWorkerRegistry
from app.application.demo import demo_handlers
from app.application.handlers import HandlerRegistry
from app.application.maintenance import Maintenance
from app.application.schedule_keeper import KeeperConfig, ScheduleKeeper
from app.application.schedules import sync_code_schedules
from app.application.worker import Worker, WorkerConfig
from app.application.worker_registry import WorkerRegistration, WorkerRegistry, keep_registered
from app.bootstrap.capabilities import Closer, build_capability_handlers
from app.bootstrap.code_schedules import CodeSchedules, code_schedules
from app.bootstrap.services import Services, build_services, prune_config
from app.config import Settings


def default_worker_id() -> str:
    """host-pid: unique per process, readable in `locked_by` and logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


def package_version() -> str:
    """The installed assistente-tasks version, for the worker registry."""
    try:
        return importlib.metadata.version("assistente-tasks")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "unknown"


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
    # The row this worker keeps alive in the workers table while it runs.
    registry: WorkerRegistry | None = None
    registration: WorkerRegistration | None = None

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
            await asyncio.gather(work(), self.maintenance.run(done), self._keep_registered(done))
        finally:
            forwarder.cancel()
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
            for close in self.closers:
                await close()
            await self.services.stop()

    async def _keep_registered(self, stop: asyncio.Event) -> None:
        if self.registry is not None and self.registration is not None:
            await keep_registered(self.registration, registry=self.registry, stop=stop)

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
    worker_rows = PgWorkerRegistry(services.pool)
    worker = Worker(
        handlers,
        store=PgLeaseStore(services.pool),
        signals=PgTaskSignals(services.url),
        config=config,
        directory=PgHandlerDirectory(services.pool),
    )
    maintenance = Maintenance(
        PgMaintenanceStore(services.pool, services.url),
        prune_config(settings),
        artifacts=artifacts,
        schedules=ScheduleKeeper(
            PgScheduleStore(services.pool),
            KeeperConfig(catch_up_seconds=settings.schedule_catch_up_seconds),
        ),
        workers=worker_rows,
    )
    schedules = code_schedules(handlers, default_max_attempts=settings.default_max_attempts)
    registration = WorkerRegistration(
        worker_id=config.worker_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        version=package_version(),
        concurrency=config.concurrency,
        heartbeat_seconds=config.heartbeat_interval,
        lease_seconds=config.lease_seconds,
    )
    return WorkerProcess(
        services, worker, maintenance, closers, schedules, worker_rows, registration
    )
