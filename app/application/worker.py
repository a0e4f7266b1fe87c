"""The worker: lease due tasks from Postgres, run them, write what happened.

Four loops share one event loop:
- claiming: lease as many tasks as there are free slots, in one statement; when
  nothing is due, sleep until a NOTIFY, the poll interval, or a retry this worker
  scheduled comes due;
- finishing: outcomes queue up and are written in batches, one statement each;
- keeping: every `heartbeat` extends the leases held, stops handlers whose lease
  was lost or whose cancel was requested, and writes coalesced progress;
- listening: NOTIFY wake-ups and instant cancel requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from app.application.context import TaskContext
from app.application.execution import RunningAttempt, StopReason, run_attempt
from app.application.handlers import HandlerRegistry
from app.application.ports import FinishedAttempt, LeasedTask, LeaseStore, TaskSignals
from app.domain.retry import RetryPolicy

log = structlog.get_logger("app.worker")

# After a database error, wait this long (doubling, capped) before trying again.
ERROR_BACKOFF_START = 0.2
ERROR_BACKOFF_MAX = 5.0
# On shutdown, how long to keep trying to write the last outcomes.
FINAL_FLUSH_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How one worker process behaves."""

    worker_id: str
    concurrency: int = 10
    lease_seconds: float = 30.0
    poll_interval: float = 2.0
    shutdown_grace: float = 10.0
    default_timeout: float = 900.0
    default_retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Progress is written at most this often; leases are renewed every lease/3.
    progress_interval: float = 0.5

    @property
    def heartbeat_interval(self) -> float:
        return self.lease_seconds / 3


class Worker:
    """Runs tasks until `stop` is set, then shuts down gracefully."""

    def __init__(
        self,
        registry: HandlerRegistry,
        *,
        store: LeaseStore,
        signals: TaskSignals,
        config: WorkerConfig,
        process_pool: Executor | None = None,
    ) -> None:
        self.registry = registry
        self.config = config
        self._store = store
        self._signals = signals
        # CPU-bound handlers get processes of their own, so they never stall this loop.
        self._owns_pool = process_pool is None and registry.needs_process_pool()
        self._process_pool = ProcessPoolExecutor() if self._owns_pool else process_pool
        self._running: dict[int, RunningAttempt] = {}
        self._by_task: dict[uuid.UUID, RunningAttempt] = {}
        self._work_signal = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._finished: list[FinishedAttempt] = []
        self._finished_signal = asyncio.Event()
        self._next_retry_at: float | None = None
        self.completed = 0

    # -- lifecycle ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; then stop claiming, let handlers finish within the
        grace period, release what is still running, and write every outcome."""
        log.info(
            "worker_started", worker_id=self.config.worker_id, concurrency=self.config.concurrency
        )
        background = [
            asyncio.create_task(self._signals.listen(self._on_work, self._on_cancel)),
            asyncio.create_task(self._keep_loop()),
        ]
        closing = asyncio.Event()
        flusher = asyncio.create_task(self._finish_loop(closing))
        try:
            await self._claim_loop(stop)
            await self._drain()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            # Let the flusher write every outcome; if the database stays away, give up
            # after a while: those tasks run again once their leases run out.
            closing.set()
            self._finished_signal.set()
            try:
                await asyncio.wait_for(flusher, timeout=FINAL_FLUSH_SECONDS)
            except TimeoutError:
                log.error("outcomes_not_written", count=len(self._finished))
            if self._owns_pool and self._process_pool is not None:
                self._process_pool.shutdown(wait=False, cancel_futures=True)
        log.info("worker_stopped", worker_id=self.config.worker_id, completed=self.completed)

    async def _drain(self) -> None:
        handles = [r.handle for r in self._running.values() if r.handle]
        if handles:
            log.info(
                "worker_draining", running=len(handles), grace_seconds=self.config.shutdown_grace
            )
            _, pending = await asyncio.wait(handles, timeout=self.config.shutdown_grace)
            for running in list(self._running.values()):
                running.interrupt(StopReason.SHUTDOWN)
            if pending:
                await asyncio.wait(pending, timeout=5)

    # -- claiming -------------------------------------------------------------------

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        backoff = ERROR_BACKOFF_START
        while not stop.is_set():
            free = self.config.concurrency - len(self._running)
            if free <= 0:
                self._slot_freed.clear()
                await _wait_any(stop, self._slot_freed)
                continue
            self._work_signal.clear()
            try:
                leased = await self._store.lease_available(
                    self.config.worker_id, free, self.config.lease_seconds
                )
                backoff = ERROR_BACKOFF_START
            except Exception as error:  # the database may be down: keep trying, gently
                log.error("lease_failed", error_type=type(error).__name__, retry_in=backoff)
                await _wait_any(stop, seconds=backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
                continue
            for task in leased:
                self._start(task)
            if len(leased) < free:
                await _wait_any(stop, self._work_signal, seconds=self._idle_timeout())

    def _idle_timeout(self) -> float:
        timeout = self.config.poll_interval
        if self._next_retry_at is not None:
            until_retry = self._next_retry_at - time.monotonic()
            if until_retry <= 0:
                self._next_retry_at = None
            timeout = max(0.0, min(timeout, until_retry))
        return timeout

    def _start(self, task: LeasedTask) -> None:
        context = TaskContext(
            task_id=task.id,
            tenant_id=task.tenant_id,
            task_type=task.type,
            payload=task.payload,
            attempt=task.attempt_no,
            max_attempts=task.max_attempts,
            attempt_id=task.attempt_id,
            trace_id=task.trace_id,
            correlation_id=task.correlation_id,
            store=self._store,
        )
        running = RunningAttempt(task, context)
        self._running[task.attempt_id] = running
        self._by_task[task.id] = running
        running.handle = asyncio.create_task(self._execute(running))

    async def _execute(self, running: RunningAttempt) -> FinishedAttempt | None:
        structlog.contextvars.bind_contextvars(
            task_id=str(running.task.id),
            tenant_id=str(running.task.tenant_id),
            trace_id=running.task.trace_id,
        )
        finished: FinishedAttempt | None = None
        try:
            finished = await run_attempt(
                running,
                registry=self.registry,
                default_timeout=self.config.default_timeout,
                default_retry=self.config.default_retry,
                process_pool=self._process_pool,
                clock=self._store.now,
            )
        except Exception as error:  # a bug in the engine must not lose the task silently
            log.exception("attempt_crashed", error_type=type(error).__name__)
        finally:
            self._running.pop(running.task.attempt_id, None)
            self._by_task.pop(running.task.id, None)
            self._slot_freed.set()
        if finished is not None:
            self._finished.append(finished)
            self._finished_signal.set()
            if finished.retry_at is not None:
                self._remember_retry(finished.retry_at)
        return finished

    def _remember_retry(self, retry_at: datetime) -> None:
        delay = max(0.0, (retry_at - datetime.now(retry_at.tzinfo)).total_seconds())
        due = time.monotonic() + delay
        if self._next_retry_at is None or due < self._next_retry_at:
            self._next_retry_at = due

    # -- finishing ------------------------------------------------------------------

    async def _finish_loop(self, closing: asyncio.Event) -> None:
        while True:
            await self._finished_signal.wait()
            self._finished_signal.clear()
            await self._flush_all()
            if closing.is_set() and not self._finished:
                return

    async def _flush_all(self) -> None:
        backoff = ERROR_BACKOFF_START
        while self._finished:
            batch, self._finished = self._finished, []
            try:
                applied = await self._store.finish_attempts(batch)
            except Exception as error:
                # Keep the outcomes and retry; if the lease runs out meanwhile, the guard
                # rejects them and the task is retried elsewhere (at-least-once).
                log.error("finish_failed", error_type=type(error).__name__, pending=len(batch))
                self._finished = batch + self._finished
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
                continue
            self.completed += len(applied)
            for finished in batch:
                if finished.attempt_id not in applied:
                    log.warning(
                        "stale_outcome_discarded",
                        task_id=str(finished.task_id),
                        attempt_id=finished.attempt_id,
                    )

    # -- keeping leases -------------------------------------------------------------

    async def _keep_loop(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            await asyncio.sleep(self.config.progress_interval)
            try:
                await self._flush_progress()
                if time.monotonic() - last_heartbeat >= self.config.heartbeat_interval:
                    last_heartbeat = time.monotonic()
                    await self._heartbeat()
            except Exception as error:
                log.error("keeper_failed", error_type=type(error).__name__)

    async def _flush_progress(self) -> None:
        updates = [u for r in list(self._running.values()) if (u := r.context.take_progress())]
        if updates:
            await self._store.record_progress(updates)

    async def _heartbeat(self) -> None:
        held = list(self._running.values())
        if not held:
            return
        renewed = await self._store.extend_leases(
            [(r.task.id, r.task.attempt_id) for r in held], self.config.lease_seconds
        )
        for running in held:
            if running.handle is None or running.handle.done():
                continue
            if running.task.attempt_id not in renewed:
                running.interrupt(StopReason.LEASE_LOST)
            elif renewed[running.task.attempt_id]:
                running.interrupt(StopReason.CANCEL_REQUESTED)

    # -- signals --------------------------------------------------------------------

    def _on_work(self) -> None:
        self._work_signal.set()

    def _on_cancel(self, task_id: uuid.UUID) -> None:
        running = self._by_task.get(task_id)
        if running is not None:
            log.info("cancel_requested", task_id=str(task_id))
            running.interrupt(StopReason.CANCEL_REQUESTED)

    @property
    def running_count(self) -> int:
        return len(self._running)


async def _wait_any(*events: asyncio.Event, seconds: float | None = None) -> None:
    """Return when any event is set, or after `seconds`."""
    if any(event.is_set() for event in events):
        return
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*waiters, return_exceptions=True)
