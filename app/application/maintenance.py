"""Maintenance: the periodic work, done by one elected leader at a time.

- rescue: tasks whose lease ran out go back to the queue (or to DeadLetter);
- wake: delayed tasks and retries that came due wake idle workers;
- deadlines: parked tasks whose wait (a decision, input, a signal) passed its deadline
  move on as the wait's on_deadline says, each once (docs/design/waits.md);
- prune: finished tasks past their retention are deleted in small batches, and
  then their files in the artifact store; signals past their window are forgotten;
- schedules: the ticks of cron schedules that came due start their tasks, one per
  tick (app/application/schedule_keeper.py);
- workers: registered workers gone silent are marked dead, and rows of workers stopped
  or dead past a day are pruned (app/application/worker_registry.py).
Each job works in LIMIT batches until a batch comes back short.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from app.application.artifact_store import ArtifactStore
from app.application.maintenance_store import MaintenanceStore
from app.application.schedule_keeper import ScheduleKeeper
from app.application.worker_registry import WorkerDirectory

log = structlog.get_logger("app.maintenance")


@dataclass(frozen=True, slots=True)
class MaintenanceConfig:
    interval_seconds: float = 1.0
    prune_every_seconds: float = 60.0
    retention_seconds: float = 7 * 86_400
    dead_letter_retention_seconds: float = 30 * 86_400
    batch_size: int = 500
    # Rows of workers stopped or found dead are kept this long.
    worker_retention_seconds: float = 86_400


@dataclass(slots=True)
class MaintenanceCounts:
    rescued: int = 0
    pruned: int = 0
    # Pruned tasks that had files in the artifact store, now deleted.
    artifacts_cleared: int = 0
    # Tasks started by schedules' ticks.
    ticked: int = 0
    # Waits ended by their deadline.
    waits_expired: int = 0
    signals_pruned: int = 0
    # Registered workers found dead (silent too long), and old worker rows pruned.
    workers_dead: int = 0
    workers_pruned: int = 0


class Maintenance:
    """Runs the jobs every interval while this process is the leader."""

    def __init__(
        self,
        store: MaintenanceStore,
        config: MaintenanceConfig | None = None,
        *,
        artifacts: ArtifactStore,
        schedules: ScheduleKeeper | None = None,
        workers: WorkerDirectory | None = None,
    ) -> None:
        self._store = store
        self._workers = workers
        self._artifacts = artifacts
        self._schedules = schedules
        self.config = config or MaintenanceConfig()
        self._last_wake: datetime | None = None
        self._last_prune = 0.0
        self.is_leader = False

    async def run_once(self, *, prune: bool = True) -> MaintenanceCounts:
        """One round of every job (the caller must be the leader)."""
        counts = MaintenanceCounts()
        counts.rescued = await self._batches(
            lambda: self._store.rescue_expired(self.config.batch_size)
        )
        counts.waits_expired = await self._batches(
            lambda: self._store.expire_waits(self.config.batch_size)
        )
        now = await self._store.now()
        await self._store.wake_due(self._last_wake or now)
        self._last_wake = now
        if self._schedules is not None:
            try:
                counts.ticked = await self._schedules.run_once()
            except Exception as error:  # the other jobs still run; the next round retries
                log.error("schedules_failed", error_type=type(error).__name__)
        if self._workers is not None:
            await self._keep_registry(counts)
        if prune:
            await self._prune(counts)
        if (
            counts.rescued
            or counts.pruned
            or counts.waits_expired
            or counts.signals_pruned
            or counts.ticked
            or counts.workers_dead
            or counts.workers_pruned
        ):
            log.info(
                "maintenance_round",
                rescued=counts.rescued,
                waits_expired=counts.waits_expired,
                pruned=counts.pruned,
                artifacts_cleared=counts.artifacts_cleared,
                ticked=counts.ticked,
                signals_pruned=counts.signals_pruned,
                workers_dead=counts.workers_dead,
                workers_pruned=counts.workers_pruned,
            )
        return counts

    async def prune_now(self) -> MaintenanceCounts:
        """Only the prunes, once, now (`assistente prune`): finished tasks past retention
        and their files, expired signals, old worker rows. Safe beside a running leader:
        each batch locks its rows with SKIP LOCKED, so two pruners never delete a row twice."""
        counts = MaintenanceCounts()
        await self._prune(counts)
        return counts

    async def _prune(self, counts: MaintenanceCounts) -> None:
        counts.pruned = await self._batches(lambda: self._prune_batch(counts))
        counts.signals_pruned = await self._batches(
            lambda: self._store.prune_signals(self.config.batch_size)
        )
        if self._workers is not None:
            try:
                counts.workers_pruned = await self._workers.prune(
                    self.config.worker_retention_seconds
                )
            except Exception as error:  # the other jobs still run; the next round retries
                log.error("worker_registry_failed", error_type=type(error).__name__)

    async def _keep_registry(self, counts: MaintenanceCounts) -> None:
        """Mark silent workers dead (their leases ran out too: the rescue job takes
        their tasks back); their old rows are pruned with the other prunes."""
        assert self._workers is not None
        try:
            dead = await self._workers.mark_dead()
            for worker_id in dead:
                log.warning("worker_dead", worker_id=worker_id)
            counts.workers_dead = len(dead)
        except Exception as error:  # the other jobs still run; the next round retries
            log.error("worker_registry_failed", error_type=type(error).__name__)

    async def _prune_batch(self, counts: MaintenanceCounts) -> int:
        """Prune one batch of tasks, then delete their stored files; how many tasks."""
        pruned = await self._store.prune_finished(
            self.config.retention_seconds,
            self.config.dead_letter_retention_seconds,
            self.config.batch_size,
        )
        if pruned:
            # Only after the delete committed: a file deleted for a delete that then rolled
            # back would be lost data, while a file left by a crash (or a failure) here is
            # only garbage. A failure stops the prune until the next round, so rows are not
            # deleted faster than their files.
            counts.artifacts_cleared += await self._artifacts.delete_tasks(pruned)
        return len(pruned)

    async def _batches(self, job: Callable[[], Awaitable[int]]) -> int:
        total = 0
        while True:
            done = await job()
            total += done
            if done < self.config.batch_size:
                return total

    async def run(self, stop: asyncio.Event) -> None:
        """Compete for leadership and work while leading, until `stop` is set."""
        try:
            while not stop.is_set():
                try:
                    leading = await self._store.try_lead()
                    if leading != self.is_leader:
                        log.info("maintenance_leadership", leader=leading)
                        self.is_leader = leading
                    if leading:
                        due = time.monotonic() - self._last_prune >= self.config.prune_every_seconds
                        await self.run_once(prune=due)
                        if due:
                            self._last_prune = time.monotonic()
                except Exception as error:
                    log.error("maintenance_failed", error_type=type(error).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.interval_seconds)
        finally:
            await self._store.resign()
