"""Use cases on batches: create one (idempotent, in one statement), read it, page its
children. The parent and its children wait on each other through the dependency
mechanism (app/domain/dependencies.py; the database's task_groups_settle)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from app.application.task_repository import EnqueueTask, TaskRecord
from app.application.tasks import IdempotencyConflict, TaskNotFound, fingerprint
from app.domain.dependencies import MAX_BATCH_CHILDREN, FailurePolicy, dependency_error
from app.domain.enums import TaskStatus
from app.domain.errors import DomainError
from app.domain.ids import new_task_id

BATCH_TASK_TYPE = "batch"


@dataclass(frozen=True, slots=True)
class CreateBatch:
    """Command: a batch of tasks, and what to do when they have all ended."""

    tenant_id: uuid.UUID
    tasks: Sequence[EnqueueTask]
    on_complete: EnqueueTask | None = None
    failure_policy: FailurePolicy = FailurePolicy.CONTINUE
    priority: int = 5
    correlation_id: str | None = None
    trace_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    # dependsOn: a task's index -> the indexes of the tasks it waits for (a DAG). Such a
    # task is held until they have all succeeded, and cancelled if one does not.
    depends_on: Mapping[int, Sequence[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A batch as stored: its parent task's status and its children's counts."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    status: TaskStatus
    failure_policy: FailurePolicy
    total: int
    remaining: int
    succeeded: int
    dead_lettered: int
    cancelled: int
    generation: int
    callback_task_id: uuid.UUID | None
    on_complete: Mapping[str, Any] | None
    request_hash: str | None
    created_at: datetime
    completed_at: datetime | None
    cancel_requested_at: datetime | None
    # Children by status, right now (Queued, Running, … as well as the endings).
    by_status: Mapping[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.total - self.remaining


class BatchStore(Protocol):
    """Batches in the database."""

    def transaction(self) -> AbstractAsyncContextManager[BatchStore]:
        """A store whose calls share one transaction (committed when the block ends)."""
        ...

    async def create(
        self,
        batch: CreateBatch,
        batch_id: uuid.UUID,
        children: Sequence[tuple[uuid.UUID, EnqueueTask]],
    ) -> bool:
        """Insert the batch, its group, its children and their dependencies
        (`batch.depends_on`) in one statement; False when the tenant already used its
        idempotency key (nothing inserted)."""
        ...

    async def get(self, tenant_id: uuid.UUID, batch_id: uuid.UUID) -> BatchRecord | None:
        """A batch with its counts, or None."""
        ...

    async def find(self, tenant_id: uuid.UUID, idempotency_key: str) -> uuid.UUID | None:
        """The batch created under this idempotency key."""
        ...

    async def children(
        self, tenant_id: uuid.UUID, batch_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[TaskRecord]:
        """A page of the batch's children, in the order they were given."""
        ...


class EmptyBatch(DomainError):
    def __init__(self) -> None:
        super().__init__(f"a batch needs 1 to {MAX_BATCH_CHILDREN} tasks")


class InvalidDependencies(DomainError):
    """dependsOn is not a DAG over the batch's tasks."""


@dataclass(frozen=True, slots=True)
class BatchCreated:
    batch: BatchRecord
    created: bool


def child_ids(count: int) -> list[uuid.UUID]:
    """Ids for a batch's children, increasing in the order given (UUIDv7 of one
    millisecond, counted up in its low bits), so paging lists them in that order."""
    base = new_task_id().int & ~((1 << 24) - 1)
    return [uuid.UUID(int=base + n) for n in range(count)]


def batch_fingerprint(command: CreateBatch) -> str:
    """What makes two batch requests 'the same' for an Idempotency-Key replay."""
    body = {
        "tasks": [fingerprint(t) for t in command.tasks],
        "onComplete": fingerprint(command.on_complete) if command.on_complete else None,
        "failurePolicy": command.failure_policy.value,
        "priority": command.priority,
        "correlationId": command.correlation_id,
        "dependsOn": {str(k): sorted(v) for k, v in sorted(command.depends_on.items())},
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


async def create_batch(command: CreateBatch, *, batches: BatchStore) -> BatchCreated:
    """Create a batch and its children in one transaction. A replay of its idempotency
    key answers the original batch; the key reused for another request is a conflict."""
    if not 1 <= len(command.tasks) <= MAX_BATCH_CHILDREN:
        raise EmptyBatch()
    problem = dependency_error(len(command.tasks), command.depends_on)
    if problem is not None:
        raise InvalidDependencies(problem)
    request_hash = None
    if command.idempotency_key is not None:
        request_hash = command.request_hash or batch_fingerprint(command)
        command = _with_hash(command, request_hash)
    batch_id = new_task_id()
    children = list(zip(child_ids(len(command.tasks)), command.tasks, strict=True))
    async with batches.transaction() as tx:
        created = await tx.create(command, batch_id, children)
        if not created:
            assert command.idempotency_key is not None  # only a keyed insert is skipped
            found = await tx.find(command.tenant_id, command.idempotency_key)
            if found is None:
                raise IdempotencyConflict(command.idempotency_key)  # a plain task holds it
            batch_id = found
        record = await tx.get(command.tenant_id, batch_id)
    if record is None:
        raise TaskNotFound(batch_id)
    if not created and record.request_hash != request_hash:
        raise IdempotencyConflict(str(command.idempotency_key))
    return BatchCreated(record, created)


def _with_hash(command: CreateBatch, request_hash: str) -> CreateBatch:
    return replace(command, request_hash=request_hash)


async def get_batch(
    tenant_id: uuid.UUID, batch_id: uuid.UUID, *, batches: BatchStore
) -> BatchRecord:
    """A batch with its counts; TaskNotFound for another tenant's or a plain task."""
    record = await batches.get(tenant_id, batch_id)
    if record is None:
        raise TaskNotFound(batch_id)
    return record


async def iterate_children(
    tenant_id: uuid.UUID, batch_id: uuid.UUID, *, batches: BatchStore, page: int = 500
) -> AsyncIterator[TaskRecord]:
    """Every child of a batch, page by page (for the CLI's tree)."""
    after: uuid.UUID | None = None
    while True:
        rows = await batches.children(tenant_id, batch_id, after=after, limit=page)
        for row in rows:
            yield row
        if len(rows) < page:
            return
        after = rows[-1].id
