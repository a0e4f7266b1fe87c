"""Use cases on tasks: enqueue (idempotent), cancel."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.application.ports import NewTask, TaskRecord, TaskRepository
from app.domain.enums import CapabilityType, DomainType, ExecutionType, TaskStatus
from app.domain.errors import DomainError
from app.domain.ids import new_task_id


class IdempotencyConflict(DomainError):
    """The Idempotency-Key was used before for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request")
        self.key = key


class TaskNotFound(DomainError):
    def __init__(self, task_id: uuid.UUID) -> None:
        super().__init__(f"task {task_id} was not found")
        self.task_id = task_id


class TaskAlreadyFinished(DomainError):
    def __init__(self, task_id: uuid.UUID, status: TaskStatus) -> None:
        super().__init__(f"task {task_id} already finished as {status}")
        self.task_id = task_id
        self.status = status


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

    def fingerprint(self) -> str:
        """What makes two requests 'the same' for Idempotency-Key replay."""
        body = {
            "type": self.type,
            "payload": self.payload,
            "priority": self.priority,
            "domainType": self.domain_type,
            "capabilityType": self.capability_type,
            "executionType": self.execution_type,
            "maxAttempts": self.max_attempts,
            "scheduledAt": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "timeoutSeconds": self.timeout_seconds,
            "retryPolicy": self.retry_policy,
            "correlationId": self.correlation_id,
        }
        encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The result: the task's id, and whether this call created it (False on replay)."""

    task_id: uuid.UUID
    created: bool


async def enqueue_tasks(
    commands: Sequence[EnqueueTask], *, tasks: TaskRepository
) -> list[Enqueued]:
    """Insert tasks in one transaction (all or nothing); replays of an idempotency key
    return the original task; a key reused for a different request is a conflict."""
    new = [
        NewTask(
            id=new_task_id(),
            tenant_id=c.tenant_id,
            type=c.type,
            payload=c.payload,
            priority=c.priority,
            domain_type=c.domain_type,
            capability_type=c.capability_type,
            execution_type=c.execution_type,
            max_attempts=c.max_attempts,
            scheduled_at=c.scheduled_at,
            timeout_seconds=c.timeout_seconds,
            retry_policy=c.retry_policy,
            correlation_id=c.correlation_id,
            trace_id=c.trace_id,
            idempotency_key=c.idempotency_key,
            request_hash=c.fingerprint() if c.idempotency_key else None,
        )
        for c in commands
    ]
    inserted = await tasks.add_many(new)
    existing = await _replayed(new, inserted, tasks)
    results = []
    for task in new:
        if task.id in inserted:
            results.append(Enqueued(task.id, created=True))
            continue
        assert task.idempotency_key is not None  # only keyed tasks are skipped
        original = existing[(task.tenant_id, task.idempotency_key)]
        if original.request_hash != task.request_hash:
            raise IdempotencyConflict(task.idempotency_key)
        results.append(Enqueued(original.id, created=False))
    return results


async def enqueue_task(command: EnqueueTask, *, tasks: TaskRepository) -> Enqueued:
    """Insert one task; see `enqueue_tasks`."""
    [result] = await enqueue_tasks([command], tasks=tasks)
    return result


async def _replayed(
    new: Sequence[NewTask], inserted: set[uuid.UUID], tasks: TaskRepository
) -> dict[tuple[uuid.UUID, str], TaskRecord]:
    skipped: dict[uuid.UUID, list[str]] = {}
    for task in new:
        if task.id not in inserted and task.idempotency_key:
            skipped.setdefault(task.tenant_id, []).append(task.idempotency_key)
    found: dict[tuple[uuid.UUID, str], TaskRecord] = {}
    for tenant_id, keys in skipped.items():
        for key, record in (await tasks.get_by_idempotency_keys(tenant_id, keys)).items():
            found[(tenant_id, key)] = record
    return found


async def cancel_task(
    tenant_id: uuid.UUID, task_id: uuid.UUID, *, tasks: TaskRepository
) -> TaskStatus:
    """Cancel a waiting task now, or ask its worker to stop a running one.

    Returns the status right after: Cancelled (done) or Running/Reserved (requested).
    """
    status = await tasks.request_cancel(tenant_id, task_id)
    if status is not None:
        return status
    task = await tasks.get(tenant_id, task_id)
    if task is None:
        raise TaskNotFound(task_id)
    if task.cancel_requested_at is not None and task.finished_at is None:
        return task.status  # already requested; the worker is on it
    raise TaskAlreadyFinished(task_id, task.status)
