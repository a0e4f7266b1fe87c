"""The task ports the API and library callers need, as Protocols (the write side and the
read side), and the plain records that cross them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from app.domain.enums import CapabilityType, DomainType, ExecutionType, TaskStatus
from app.domain.waits import WaitSpec


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
