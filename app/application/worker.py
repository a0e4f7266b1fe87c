"""The worker: lease due tasks from Postgres, run them, write what happened.

Four loops share one event loop:
- claiming: lease as many tasks as there are free slots, in one statement; when
  nothing is due, sleep until a NOTIFY, the poll interval, or a retry this worker
  scheduled comes due. While tasks are short (milliseconds), it also claims one
  batch ahead, so the next tasks are at hand when slots free instead of a round
  trip later; while they are long, it never holds work another worker could start;
- finishing: outcomes queue up and are written in batches, one statement each;
- keeping: every `heartbeat` renews the leases held (running tasks and outcomes not
  yet written), stops handlers whose lease was lost or whose cancel was requested,
  and writes coalesced progress;
- listening: NOTIFY wake-ups and instant cancel requests.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog

from app.application.context import TaskContext
from app.application.execution import Executors, RunningAttempt, StopReason, run_attempt
from app.application.handlers import HandlerDirectory, HandlerRegistry
from app.application.outcome_writer import ERROR_BACKOFF_MAX, ERROR_BACKOFF_START, OutcomeWriter
from app.application.ports import (
    FinishedAttempt,
    LeasedTask,
    LeaseStore,
    ProgressUpdate,
    TaskSignals,
)
from app.domain import outcome as outcomes
from app.domain.batch_ahead import BatchAhead
from app.domain.retry import RetryPolicy
from app.logging import task_log_context

log = structlog.get_logger("app.worker")

# On shutdown, how long to keep trying to write the last outcomes.
FINAL_FLUSH_SECONDS = 15.0
# Short tasks end in waves; waiting this long for the rest of a wave turns many
# one-row statements into a few batches (a few ms is nothing next to an AI call).
CLAIM_COALESCE_SECONDS = 0.002


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
    # Burst: exit once nothing is due and nothing runs (scripts, CI jobs, benchmarks).
    burst: bool = False
    # Tasks leased ahead of free slots. None: adaptive (app.domain.batch_ahead), about
    # 20 ms of work while tasks are short, none while they are long. 0: never.
    prefetch: int | None = None

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
        directory: HandlerDirectory | None = None,
    ) -> None:
        self.registry = registry
        self.config = config
        # Where this worker records the task types it handles, for the API's payload check.
        self._directory = directory
        self._store = store
        self._signals = signals
        # Sync handlers get threads sized to the worker, CPU-bound ones processes of
        # their own, so neither stalls this loop.
        self._executors = Executors(
            threads=ThreadPoolExecutor(config.concurrency, thread_name_prefix="handler")
            if registry.uses("thread")
            else None,
            processes=ProcessPoolExecutor() if registry.uses("process") else None,
        )
        self._running: dict[int, RunningAttempt] = {}
        self._by_task: dict[uuid.UUID, RunningAttempt] = {}
        # Leased ahead of a free slot; started in order as slots free.
        self._ready: collections.deque[LeasedTask] = collections.deque()
        self._claiming = True
        self._ahead = BatchAhead(config.concurrency, config.prefetch)
        self._outcomes = OutcomeWriter(
            store,
            config.worker_id,
            batch_hint=max(1, config.concurrency // 2),
            on_retry_scheduled=self._remember_retry,
        )
        self._work_signal = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._next_retry_at: float | None = None

    # -- lifecycle ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set (or, in burst mode, until nothing is due); then stop
        claiming, let handlers finish within the grace period, release what is still
        running, and write every outcome."""
        log.info(
            "worker_started", worker_id=self.config.worker_id, concurrency=self.config.concurrency
        )
        background = [
            asyncio.create_task(self._signals.listen(self._on_work, self._on_cancel)),
            asyncio.create_task(self._keep_loop()),
            asyncio.create_task(self._record_handlers()),
        ]
        closing = asyncio.Event()
        flusher = asyncio.create_task(self._outcomes.run(closing))
        try:
            await self._claim_loop(stop)
            await self._drain()
        finally:
            # Let the flusher write every outcome; if the database stays away, give up
            # after a while: those tasks run again once their leases run out.
            closing.set()
            self._outcomes.wake()
            try:
                await asyncio.wait_for(flusher, timeout=FINAL_FLUSH_SECONDS)
            except TimeoutError:
                log.error("outcomes_not_written", count=len(self._outcomes))
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            for executor in (self._executors.threads, self._executors.processes):
                if executor is not None:
                    executor.shutdown(wait=False, cancel_futures=True)
        log.info("worker_stopped", worker_id=self.config.worker_id, completed=self.completed)

    async def _record_handlers(self) -> None:
        """Tell the directory which task types this worker handles, retrying while the
        database is away (until then the API checks those types' capability payloads)."""
        if self._directory is None:
            return
        types, replaced = list(self.registry), self.registry.replaced_capabilities()
        delay = ERROR_BACKOFF_START
        while True:
            try:
                await self._directory.record(self.config.worker_id, types, replaced)
                return
            except Exception as error:
                log.warning("handlers_not_recorded", error_type=type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, ERROR_BACKOFF_MAX)

    async def _drain(self) -> None:
        handles = [r.handle for r in self._running.values() if r.handle]
        if not handles:
            return
        log.info("worker_draining", running=len(handles), grace_seconds=self.config.shutdown_grace)
        _, pending = await asyncio.wait(handles, timeout=self.config.shutdown_grace)
        for running in list(self._running.values()):
            running.interrupt(StopReason.SHUTDOWN)
        if pending:
            await asyncio.wait(pending, timeout=5)

    # -- claiming -------------------------------------------------------------------

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        backoff = ERROR_BACKOFF_START
        try:
            while not stop.is_set():
                room = self._room()
                if room <= 0:
                    self._slot_freed.clear()
                    await _wait_any(stop, self._slot_freed)
                    continue
                if room < self._claim_batch and (self._running or self._ready):
                    room = await self._gather_room(stop)
                self._work_signal.clear()
                self._slot_freed.clear()
                try:
                    leased = await self._store.lease_available(
                        self.config.worker_id, room, self.config.lease_seconds
                    )
                    backoff = ERROR_BACKOFF_START
                except Exception as error:  # the database may be down: keep trying, gently
                    if backoff == ERROR_BACKOFF_START:  # one line per outage, not per retry
                        log.error("lease_failed", error_type=type(error).__name__, retry_in=backoff)
                    await _wait_any(stop, seconds=backoff)
                    backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
                    continue
                self._ready.extend(leased)
                self._fill_slots()
                if self.config.burst and not leased and not self._running and not self._ready:
                    log.info("worker_idle_exiting", worker_id=self.config.worker_id)
                    return
                if len(leased) < room:
                    # A burst worker with tasks still running looks again when one
                    # ends, so it can exit as soon as the last one does.
                    wake = (self._work_signal, self._slot_freed)
                    await _wait_any(
                        stop, *wake[: 2 if self.config.burst else 1], seconds=self._idle_seconds()
                    )
        finally:
            self._stop_claiming()

    def _room(self) -> int:
        """How many tasks to claim now: free slots, plus the batch held ahead."""
        return self.config.concurrency + self._ahead.size() - len(self._running) - len(self._ready)

    def _observe_duration(self, seconds: float, *, still_running: bool = False) -> None:
        if self._ahead.observe(seconds, still_running=still_running):
            self._hand_back_held()

    def _fill_slots(self) -> None:
        while self._ready and self._claiming and len(self._running) < self.config.concurrency:
            self._start(self._ready.popleft())

    def _hand_back_held(self) -> None:
        """Tasks turned long: what is held beyond the free slots goes back to the queue,
        for workers with free slots (only an adaptive batch ahead; a set one stays)."""
        if self.config.prefetch is not None:
            return
        keep = self.config.concurrency - len(self._running)
        while len(self._ready) > max(0, keep):
            task = self._ready.pop()  # the last claimed goes back first
            log.info("task_handed_back", task_id=str(task.id), trace_id=task.trace_id)
            self._queue_outcome(_unstarted(task, outcomes.RELEASED), task)

    def _stop_claiming(self) -> None:
        """No more starts: tasks held ahead go back to the queue at once."""
        self._claiming = False
        while self._ready:
            task = self._ready.popleft()
            self._queue_outcome(_unstarted(task, outcomes.RELEASED), task)

    @property
    def _claim_batch(self) -> int:
        """Claim once this much room is free: half of what the worker may hold, so each
        statement carries many tasks while those held ahead keep the slots busy."""
        return max(1, (self.config.concurrency + self._ahead.size()) // 2)

    async def _gather_room(self, stop: asyncio.Event) -> int:
        """Wait for more room, so one claim fills several slots: while tasks held ahead
        keep the slots busy, until half the room is free; once none are left, at most
        CLAIM_COALESCE_SECONDS."""
        deadline: float | None = None
        while not stop.is_set():
            room = self._room()
            if room >= self._claim_batch:
                return room
            left: float | None = None
            if not self._ready:
                if deadline is None:
                    deadline = time.monotonic() + CLAIM_COALESCE_SECONDS
                left = deadline - time.monotonic()
                if left <= 0:
                    return room
            self._slot_freed.clear()
            await _wait_any(stop, self._slot_freed, seconds=left)
        return self._room()

    def _idle_seconds(self) -> float:
        seconds = self.config.poll_interval
        if self._next_retry_at is not None:
            until_retry = self._next_retry_at - time.monotonic()
            if until_retry <= 0:
                self._next_retry_at = None
            seconds = max(0.0, min(seconds, until_retry))
        return seconds

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
            resume=task.resume,
        )
        running = RunningAttempt(task, context)
        self._outcomes.started(task)  # Reserved -> Running, written in a batch
        self._running[task.attempt_id] = running
        self._by_task[task.id] = running
        running.handle = asyncio.create_task(self._execute(running))
        # Cleanup runs however the task ends, even if it was cancelled before it began.
        running.handle.add_done_callback(lambda _: self._forget(running))

    def _forget(self, running: RunningAttempt) -> None:
        self._running.pop(running.task.attempt_id, None)
        if self._by_task.get(running.task.id) is running:
            del self._by_task[running.task.id]
        self._observe_duration((running.ended or time.monotonic()) - running.started)
        self._fill_slots()
        self._slot_freed.set()

    async def _execute(self, running: RunningAttempt) -> None:
        task = running.task
        task_log_context.set((task.id, task.tenant_id, task.trace_id))
        try:
            finished = await run_attempt(
                running,
                registry=self.registry,
                default_timeout=self.config.default_timeout,
                default_retry=self.config.default_retry,
                executors=self._executors,
            )
        except Exception as error:  # a bug in the engine: the lease runs out, the task retries
            log.error(
                "attempt_crashed",
                error_type=type(error).__name__,
                stack="".join(traceback.format_tb(error.__traceback__)),
            )
            return
        if finished is None:
            return
        progress = running.context.take_progress()
        if progress is not None:
            # A handler's last words (state, metadata) land before its outcome clears the lease.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._record_progress([progress]))
        self._queue_outcome(finished, running.task)

    def _queue_outcome(self, finished: FinishedAttempt, task: LeasedTask) -> None:
        self._outcomes.add(finished, task)

    def _remember_retry(self, delay: float) -> None:
        due = time.monotonic() + delay
        if self._next_retry_at is None or due < self._next_retry_at:
            self._next_retry_at = due
            # An idle claim loop is asleep until its poll: wake it to sleep until this.
            self._work_signal.set()

    # -- keeping leases -------------------------------------------------------------

    async def _keep_loop(self) -> None:
        last_heartbeat = time.monotonic()
        while True:
            await asyncio.sleep(self.config.progress_interval)
            self._notice_long_tasks()
            if time.monotonic() - last_heartbeat >= self.config.heartbeat_interval:
                last_heartbeat = time.monotonic()
                try:
                    await self._heartbeat()
                except Exception as error:
                    log.error("heartbeat_failed", error_type=type(error).__name__)
            try:
                await self._flush_progress()
            except Exception as error:
                log.error("progress_failed", error_type=type(error).__name__)

    def _notice_long_tasks(self) -> None:
        """A task running longer than the average says tasks got longer before any of
        them ends: count it now, so work held ahead goes back to the queue."""
        if not self._ready:
            return
        # Only handlers that have begun and not yet ended: a task waiting for a busy event
        # loop to start it, or to be cleared away, is not a long task (on a starved
        # machine either made no-op work look long).
        entered = [r.started for r in self._running.values() if r.entered and r.ended is None]
        if not entered:
            return
        elapsed = time.monotonic() - min(entered)
        if self._ahead.is_long(elapsed):
            self._observe_duration(elapsed, still_running=True)

    async def _flush_progress(self) -> None:
        updates = [u for r in list(self._running.values()) if (u := r.context.take_progress())]
        if updates:
            await self._record_progress(updates)

    async def _record_progress(self, updates: list[ProgressUpdate]) -> None:
        # A task's start is written before its progress: events stay in order.
        await self._outcomes.write_starts(u.attempt_id for u in updates)
        await self._store.record_progress(updates)

    async def _heartbeat(self) -> None:
        running = [r for r in self._running.values() if r.handle and not r.handle.done()]
        ready = list(self._ready)
        leases = [(r.task.id, r.task.attempt_id) for r in running]
        leases += [(task.id, task.attempt_id) for task in ready]
        # Outcomes not yet written still need their lease, or they would be rescued.
        leases += self._outcomes.leases()
        if not leases:
            return
        renewed = await self._store.extend_leases(leases, self.config.lease_seconds)
        for attempt in running:
            if attempt.task.attempt_id not in renewed:
                attempt.interrupt(StopReason.LEASE_LOST)
            elif renewed[attempt.task.attempt_id]:
                attempt.interrupt(StopReason.CANCEL_REQUESTED)
        for task in ready:
            if task.attempt_id not in renewed:
                self._drop_ready(task)
            elif renewed[task.attempt_id]:
                self._cancel_ready(task)

    # -- signals --------------------------------------------------------------------

    def _on_work(self) -> None:
        self._work_signal.set()

    def _drop_ready(self, task: LeasedTask) -> None:
        """A task held ahead whose lease was lost: someone else has it now."""
        with contextlib.suppress(ValueError):
            self._ready.remove(task)
            log.warning("lease_lost_before_start", task_id=str(task.id), trace_id=task.trace_id)

    def _cancel_ready(self, task: LeasedTask) -> None:
        """A cancel for a task held ahead: it ends Cancelled without running."""
        with contextlib.suppress(ValueError):
            self._ready.remove(task)
            self._queue_outcome(_unstarted(task, outcomes.CANCELLED), task)

    def _on_cancel(self, task_id: uuid.UUID) -> None:
        for task in self._ready:
            if task.id == task_id:
                self._cancel_ready(task)
                return
        running = self._by_task.get(task_id)
        if running is not None:
            log.info(
                "cancel_requested",
                task_id=str(task_id),
                tenant_id=str(running.task.tenant_id),
                trace_id=running.task.trace_id,
            )
            running.interrupt(StopReason.CANCEL_REQUESTED)

    @property
    def completed(self) -> int:
        """Outcomes this worker wrote."""
        return self._outcomes.written

    @property
    def running_count(self) -> int:
        return len(self._running)


def _unstarted(task: LeasedTask, outcome: outcomes.Outcome) -> FinishedAttempt:
    """The end of a task held ahead whose handler never started: no attempt ran."""
    return FinishedAttempt(task.id, task.attempt_id, outcome, started=False)


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
