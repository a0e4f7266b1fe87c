"""Writing what happened: started and finished attempts queue up and go to Postgres
in batches.

The worker hands every start and outcome here and moves on; a single loop writes them,
one statement per batch, waiting a moment while only a few are queued so a wave of short
tasks becomes a few statements. A start waits START_WRITE_SECONDS: a task that ends
sooner gets its start written with its end, in one row update instead of two. A batch
the database refuses is retried one outcome at a time, so one bad outcome cannot hold
back the others; an outcome refused MAX_WRITE_TRIES times on its own is given up (its
lease then runs out and the task is retried elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from app.application.ports import FinishedAttempt, LeasedTask, LeaseStore, StartedAttempt

log = structlog.get_logger("app.worker")

# After a database error, wait this long (doubling, capped) before trying again.
ERROR_BACKOFF_START = 0.2
ERROR_BACKOFF_MAX = 5.0
MAX_WRITE_TRIES = 5
# Short tasks end in waves; waiting this long for the rest of a wave turns many
# one-row statements into a few batches (a few ms is nothing next to an AI call).
FINISH_COALESCE_SECONDS = 0.002
# A task shows Running this long after its handler started, at the latest plus a
# statement; one that ends sooner has its start written with its end.
START_WRITE_SECONDS = 0.05


@dataclass(slots=True)
class PendingOutcome:
    """An outcome waiting to be written, and how often writing it failed."""

    finished: FinishedAttempt
    task: LeasedTask
    failures: int = 0

    def log_fields(self) -> dict[str, str | None]:
        return {
            "task_id": str(self.task.id),
            "tenant_id": str(self.task.tenant_id),
            "trace_id": self.task.trace_id,
        }


class OutcomeWriter:
    """The outcomes of one worker not yet written, and the loop that writes them."""

    def __init__(
        self,
        store: LeaseStore,
        worker_id: str,
        *,
        batch_hint: int,
        on_retry_scheduled: Callable[[float], None],
    ) -> None:
        self._store = store
        self._worker_id = worker_id
        # Fewer queued than this: wait FINISH_COALESCE_SECONDS for more first.
        self._batch_hint = batch_hint
        # Told the delay of each retry the database accepted, counted from the write.
        self._on_retry_scheduled = on_retry_scheduled
        self._unwritten: dict[int, PendingOutcome] = {}
        # Handlers started whose start is not written yet: attempt id -> (task, when).
        self._starts: dict[int, tuple[LeasedTask, float]] = {}
        # One writer at a time: whether a start is written decides what a finish writes.
        self._lock = asyncio.Lock()
        self._queued = asyncio.Event()
        self.written = 0
        self.starts_written = 0

    def add(self, finished: FinishedAttempt, task: LeasedTask) -> None:
        """Queue an outcome (a later one for the same attempt replaces it)."""
        self._unwritten[finished.attempt_id] = PendingOutcome(finished, task)
        self._queued.set()

    def started(self, task: LeasedTask) -> None:
        """A handler started: its task becomes Running within START_WRITE_SECONDS."""
        self._starts[task.attempt_id] = (task, time.monotonic())
        if len(self._starts) == 1:
            self._queued.set()  # the loop sleeps on no timer while no start waits

    async def write_starts(self, attempt_ids: Iterable[int]) -> None:
        """Write these attempts' starts now, if not yet written (before their progress,
        so a TaskProgressed event never comes before its TaskRunning)."""
        async with self._lock:
            due = [a for a in attempt_ids if a in self._starts]
            if due:
                await self._write_starts(due)

    def __len__(self) -> int:
        return len(self._unwritten)

    def leases(self) -> list[tuple[uuid.UUID, int]]:
        """(task id, attempt id) of every outcome not yet written: their leases must be
        kept, or the tasks would be rescued before their outcome lands."""
        return [(p.finished.task_id, p.finished.attempt_id) for p in self._unwritten.values()]

    async def run(self, closing: asyncio.Event) -> None:
        """Write starts and outcomes as they come until `closing` is set and no outcome
        is left."""
        backoff = ERROR_BACKOFF_START
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queued.wait(), self._until_start_due())
            few = 0 < len(self._unwritten) < self._batch_hint
            if few and not closing.is_set():
                await asyncio.sleep(FINISH_COALESCE_SECONDS)
            self._queued.clear()
            async with self._lock:
                while self._unwritten:
                    if await self._write(list(self._unwritten.values())):
                        backoff = ERROR_BACKOFF_START
                        continue
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
                due = self._due_starts()
                if due and not await self._write_starts(due):
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
            if closing.is_set():
                return

    def _until_start_due(self) -> float | None:
        if not self._starts:
            return None
        _, oldest = next(iter(self._starts.values()))
        return max(0.0, oldest + START_WRITE_SECONDS - time.monotonic())

    def _due_starts(self) -> list[int]:
        """Once the oldest start is due, every start at least half as old: fewer,
        larger statements."""
        if not self._starts or self._until_start_due():
            return []
        since = time.monotonic() - START_WRITE_SECONDS / 2
        return [a for a, (_, at) in self._starts.items() if at <= since]

    async def _write_starts(self, attempt_ids: list[int]) -> bool:
        now = time.monotonic()
        batch = [
            StartedAttempt(task.id, attempt_id, now - at)
            for attempt_id in attempt_ids
            for task, at in (self._starts[attempt_id],)
        ]
        try:
            await self._store.start_attempts(self._worker_id, batch)
        except Exception as error:
            log.error("start_not_written", error_type=type(error).__name__, count=len(batch))
            return False
        for attempt_id in attempt_ids:
            self._starts.pop(attempt_id, None)
        self.starts_written += len(batch)
        return True

    def _with_start(self, pending: PendingOutcome) -> FinishedAttempt:
        """The outcome as written: carrying its start if that was not written yet."""
        start = self._starts.get(pending.finished.attempt_id)
        if start is None or not pending.finished.started:
            return pending.finished
        return dataclasses.replace(
            pending.finished, start_unwritten_ran_seconds=time.monotonic() - start[1]
        )

    def wake(self) -> None:
        """Let `run` look again (after `closing` was set)."""
        self._queued.set()

    async def _write(self, batch: list[PendingOutcome]) -> bool:
        """Write a batch; on failure write its members one by one. False if any failed."""
        try:
            applied = await self._store.finish_attempts(
                self._worker_id, [self._with_start(p) for p in batch]
            )
        except Exception as error:
            if len(batch) > 1:
                results = [await self._write([pending]) for pending in batch]
                return all(results)
            [pending] = batch
            pending.failures += 1
            log.error(
                "finish_failed",
                error_type=type(error).__name__,
                tries=pending.failures,
                **pending.log_fields(),
            )
            if pending.failures >= MAX_WRITE_TRIES:
                self._unwritten.pop(pending.finished.attempt_id, None)
                log.error(
                    "outcome_abandoned",
                    **pending.log_fields(),
                    **pending.finished.usage.log_fields(),
                )
            return False
        for pending in batch:
            attempt_id = pending.finished.attempt_id
            self._unwritten.pop(attempt_id, None)
            self._starts.pop(attempt_id, None)
            if attempt_id in applied:
                self.written += 1
                delay = pending.finished.outcome.retry_delay
                if delay is not None:
                    # Counted from now, after the write: never before the retry's
                    # scheduled_at, which the database set from its own clock.
                    self._on_retry_scheduled(delay)
            else:
                log.warning(
                    "stale_outcome_discarded",
                    attempt_id=attempt_id,
                    **pending.log_fields(),
                    **pending.finished.usage.log_fields(),
                )
        return True
