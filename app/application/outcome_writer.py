"""Writing what happened: finished attempts queue up and go to Postgres in batches.

The worker hands every outcome here and moves on; a single loop writes them, one
statement per batch, waiting a moment while only a few are queued so a wave of short
tasks becomes a few statements. A batch the database refuses is retried one outcome
at a time, so one bad outcome cannot hold back the others; an outcome refused
MAX_WRITE_TRIES times on its own is given up (its lease then runs out and the task
is retried elsewhere).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from app.application.ports import FinishedAttempt, LeasedTask, LeaseStore

log = structlog.get_logger("app.worker")

# After a database error, wait this long (doubling, capped) before trying again.
ERROR_BACKOFF_START = 0.2
ERROR_BACKOFF_MAX = 5.0
MAX_WRITE_TRIES = 5
# Short tasks end in waves; waiting this long for the rest of a wave turns many
# one-row statements into a few batches (a few ms is nothing next to an AI call).
FINISH_COALESCE_SECONDS = 0.002


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
        self._queued = asyncio.Event()
        self.written = 0

    def add(self, finished: FinishedAttempt, task: LeasedTask) -> None:
        """Queue an outcome (a later one for the same attempt replaces it)."""
        self._unwritten[finished.attempt_id] = PendingOutcome(finished, task)
        self._queued.set()

    def __len__(self) -> int:
        return len(self._unwritten)

    def leases(self) -> list[tuple[uuid.UUID, int]]:
        """(task id, attempt id) of every outcome not yet written: their leases must be
        kept, or the tasks would be rescued before their outcome lands."""
        return [(p.finished.task_id, p.finished.attempt_id) for p in self._unwritten.values()]

    async def run(self, closing: asyncio.Event) -> None:
        """Write outcomes as they come until `closing` is set and none is left."""
        backoff = ERROR_BACKOFF_START
        while True:
            await self._queued.wait()
            if len(self._unwritten) < self._batch_hint and not closing.is_set():
                await asyncio.sleep(FINISH_COALESCE_SECONDS)
            self._queued.clear()
            while self._unwritten:
                if await self._write(list(self._unwritten.values())):
                    backoff = ERROR_BACKOFF_START
                    continue
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
            if closing.is_set():
                return

    def wake(self) -> None:
        """Let `run` look again (after `closing` was set)."""
        self._queued.set()

    async def _write(self, batch: list[PendingOutcome]) -> bool:
        """Write a batch; on failure write its members one by one. False if any failed."""
        try:
            applied = await self._store.finish_attempts(
                self._worker_id, [p.finished for p in batch]
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
