"""The ports use cases need, as Protocols, and the plain records that cross them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from app.domain.enums import CapabilityType, DomainType, ExecutionType, TaskStatus
from app.domain.outcome import Outcome
from app.domain.waits import Park, WaitSpec


@dataclass(frozen=True, slots=True)
class EnqueueTask:
    """Command: put a task in the queue."""

    tenant_id: uuid.UUID
    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 5
    domain_type: DomainType | None = None
    capability_type: CapabilityType | None = None
    execution_type: ExecutionType = ExecutionType.ASYNC
    max_attempts: int = 3
    scheduled_at: datetime | None = None
    timeout_seconds: int | None = None
    retry_policy: Mapping[str, float] | None = None
    correlation_id: str | None = None
    trace_id: str | None = None
    idempotency_key: str | None = None
    # The fingerprint of the request as the client sent it, when the caller has one
    # (the API hashes its body); otherwise one is computed from these fields.
    request_hash: str | None = None
    # Parked at creation until this is answered: an approval, or a signal.
    wait: WaitSpec | None = None


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task to insert: the command, the id chosen for it (UUIDv7), and the
    fingerprint that Idempotency-Key replays are compared against."""

    id: uuid.UUID
    command: EnqueueTask
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task as stored."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    status: TaskStatus
    priority: int
    payload: Mapping[str, Any]
    attempt_count: int
    max_attempts: int
    scheduled_at: datetime
    created_at: datetime
    updated_at: datetime
    version: int
    progress: int = 0
    state: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    domain_type: DomainType | None = None
    capability_type: CapabilityType | None = None
    execution_type: ExecutionType = ExecutionType.ASYNC
    idempotency_key: str | None = None
    request_hash: str | None = None
    locked_until: datetime | None = None
    locked_by: str | None = None
    last_error: str | None = None
    timeout_seconds: int | None = None
    cancel_requested_at: datetime | None = None
    correlation_id: str | None = None
    trace_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LeasedTask:
    """A task a worker holds a lease on; `attempt_id` identifies the lease."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    capability_type: CapabilityType | None
    payload: Mapping[str, Any]
    attempt_id: int
    attempt_no: int
    max_attempts: int
    timeout_seconds: int | None
    retry_policy: Mapping[str, float] | None
    trace_id: str | None
    correlation_id: str | None
    # The answers to the task's earlier waits, by wait key (docs/design/waits.md).
    resume: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What an attempt cost, when the handler reports it."""

    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    latency_ms: int | None = None
    # Provider calls added up by `plus` (0: none, or one reported by `report_usage`).
    calls: int = 0

    def log_fields(self) -> dict[str, object]:
        """What a log line says of spent usage whose attempt row cannot be written (a
        lost lease): the tokens were paid for, so they are not silently dropped."""
        if self == Usage():
            return {}
        return {
            "usage_model": self.model,
            "usage_tokens_in": self.tokens_in,
            "usage_tokens_out": self.tokens_out,
            "usage_cost": self.cost,
        }

    def plus(self, other: Usage) -> Usage:
        """This usage and `other`'s together, as `TaskContext.add_usage` counts them."""
        if self == Usage():
            return Usage(
                other.model, other.tokens_in, other.tokens_out, other.cost, other.latency_ms, 1
            )

        def total(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        def count(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Usage(
            model=other.model or self.model,
            tokens_in=count(self.tokens_in, other.tokens_in),
            tokens_out=count(self.tokens_out, other.tokens_out),
            cost=total(self.cost, other.cost),
            latency_ms=count(self.latency_ms, other.latency_ms),
            calls=max(self.calls, 1) + 1,
        )


# What an attempt that reported nothing cost: shared, so `usage is NO_USAGE` is cheap.
NO_USAGE = Usage()


@dataclass(frozen=True, slots=True)
class FinishedAttempt:
    """The end of one attempt, ready to be written."""

    task_id: uuid.UUID
    attempt_id: int
    outcome: Outcome
    result_json: str | None = None
    usage: Usage = field(default_factory=Usage)
    # False: handed back or cancelled before its handler started (no attempt ran).
    started: bool = True
    # How long ago the handler started, when its start is written with this end
    # (the worker had not written it yet): the TaskRunning event comes with the finish.
    start_unwritten_ran_seconds: float | None = None
    # The handler asked to wait (input, a signal): the task is parked, not finished.
    park: Park | None = None


@dataclass(frozen=True, slots=True)
class StartedAttempt:
    """A handler that started: its Reserved task becomes Running."""

    task_id: uuid.UUID
    attempt_id: int
    # How long ago it started (the database dates the start from its own clock).
    ran_seconds: float


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """The latest progress of a running task, coalesced since the last flush."""

    task_id: uuid.UUID
    attempt_id: int
    progress: int | None
    state: str | None
    metadata: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Artifact:
    """An output written by a handler while it runs.

    `size_bytes` is the size of what `uri` names (a file in the artifact store, say);
    inline `content` is measured by the store instead, so its size is never taken from here.
    """

    kind: str
    content: str | None = None
    uri: str | None = None
    name: str | None = None
    content_type: str = "application/json"
    size_bytes: int | None = None


class TaskRepository(Protocol):
    """Tasks as the API and library callers see them."""

    def transaction(self) -> AbstractAsyncContextManager[TaskRepository]:
        """A repository whose calls share one transaction (rolled back if the block raises)."""
        ...

    async def add_many(self, tasks: Sequence[NewTask]) -> list[TaskRecord]:
        """Insert tasks with their TaskQueued events in one statement; return the tasks
        actually inserted, as stored (a task whose idempotency key was already used is
        skipped)."""
        ...

    async def answer_kept_signals(self, task_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Queue the tasks (just inserted, waiting for a signal) whose signal was already
        received and is still kept; return them. Call in the insert's transaction."""
        ...

    async def get(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> TaskRecord | None:
        """One task of one tenant, or None."""
        ...

    async def get_by_idempotency_keys(
        self, tenant_id: uuid.UUID, keys: Sequence[str]
    ) -> dict[str, TaskRecord]:
        """The tasks a tenant created under these keys, by key."""
        ...

    async def request_cancel(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> TaskStatus | None:
        """Cancel a waiting task, or flag a running one; the new status, or None if untouched."""
        ...

    async def requeue(self, tenant_id: uuid.UUID, task_id: uuid.UUID, requested_by: str) -> bool:
        """Queue a DeadLetter or Failed task again with fresh attempts; False if it is neither."""
        ...


class TaskQueries(Protocol):
    """The read side: what the API shows about tasks. Rows are plain mappings."""

    async def list_tasks(
        self, tenant_id: uuid.UUID, filters: Mapping[str, Any], *, limit: int, offset: int
    ) -> tuple[list[TaskRecord], int]:
        """One page of a tenant's tasks (newest first) and the total that match."""
        ...

    async def result(self, task_id: uuid.UUID) -> str | None:
        """The JSON text of the task's result artifact, if any."""
        ...

    async def attempts(self, task_id: uuid.UUID) -> list[dict[str, Any]]: ...

    async def artifacts(self, task_id: uuid.UUID) -> list[dict[str, Any]]: ...

    async def artifact(
        self, task_id: uuid.UUID, artifact_id: uuid.UUID
    ) -> dict[str, Any] | None: ...

    async def events_after(self, task_id: uuid.UUID, after_id: int) -> list[dict[str, Any]]: ...

    async def tenant_events_after(
        self, tenant_id: uuid.UUID, after_id: int
    ) -> list[dict[str, Any]]: ...

    async def tenant_last_event_id(self, tenant_id: uuid.UUID) -> int:
        """The newest event id of a tenant (0 if none)."""
        ...

    async def stats(self, tenant_id: uuid.UUID | None) -> dict[str, Any]:
        """Queue counts for one tenant, or for all when None."""
        ...

    async def usage_daily(
        self, tenant_id: uuid.UUID, first_day: date, last_day: date
    ) -> list[dict[str, Any]]:
        """A tenant's usage per UTC day and model, `first_day` to `last_day` inclusive,
        ordered by day then model: rows with day, model ('' when none was named),
        attempts, tokens_in, tokens_out, cost (Decimal, None when nothing was priced),
        unpriced_attempts and avg_latency_ms. Pruned tasks' usage is included."""
        ...


class LeaseStore(Protocol):
    """Everything a worker does to the tasks it leases. Every write is guarded by the lease."""

    async def lease_available(
        self, worker_id: str, limit: int, lease_seconds: float
    ) -> list[LeasedTask]:
        """Claim up to `limit` due tasks, highest priority first."""
        ...

    async def start_attempts(self, worker_id: str, started: Sequence[StartedAttempt]) -> set[int]:
        """Mark Reserved tasks Running (their handlers started); return the attempt ids
        that moved (still Reserved under their lease)."""
        ...

    async def finish_attempts(
        self, worker_id: str, finished: Sequence[FinishedAttempt]
    ) -> set[int]:
        """Write attempt outcomes; return the attempt ids that still held their lease."""
        ...

    async def extend_leases(
        self, leases: Sequence[tuple[uuid.UUID, int]], lease_seconds: float
    ) -> dict[int, bool]:
        """Renew leases; return {attempt_id: cancel_requested} for the ones still held."""
        ...

    async def record_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        """Store coalesced progress of running tasks."""
        ...

    async def add_artifact(self, task_id: uuid.UUID, attempt_id: int, artifact: Artifact) -> bool:
        """Store an artifact while the lease is held; False if it no longer is."""
        ...


class TaskSignals(Protocol):
    """Wake-ups from the database: new work, and cancel requests for running tasks."""

    async def listen(
        self, on_work: Callable[[], None], on_cancel: Callable[[uuid.UUID], None]
    ) -> None:
        """Deliver signals until cancelled; reconnects by itself after a failure."""
        ...


class MaintenanceStore(Protocol):
    """The periodic work the elected leader does."""

    async def try_lead(self) -> bool:
        """Hold leadership (an advisory lock on a session of its own); True while held."""
        ...

    async def resign(self) -> None:
        """Give leadership up."""
        ...

    async def rescue_expired(self, limit: int) -> int:
        """Return one batch of tasks whose lease ran out; how many."""
        ...

    async def wake_due(self, since: datetime) -> None:
        """Notify workers if delayed tasks came due after `since`."""
        ...

    async def prune_finished(
        self, retention_seconds: float, dead_letter_retention_seconds: float, limit: int
    ) -> list[uuid.UUID]:
        """Delete one batch of finished tasks past retention, with their attempts, events
        and artifact rows, first adding the attempts' usage to usage_history (so usage
        totals survive); return the ids of the tasks deleted, a delete already committed."""
        ...

    async def expire_waits(self, limit: int) -> int:
        """End one batch of waits whose deadline passed, as each one's on_deadline says
        (a parent counts a child that ended, in the same transaction); how many."""
        ...

    async def prune_signals(self, limit: int) -> int:
        """Forget one batch of signals past their retention window; how many."""
        ...

    async def now(self) -> datetime:
        """The database clock."""
        ...


Hook = Callable[[], Awaitable[None]]
