"""Use cases on tasks: enqueue (idempotent), cancel, requeue; and the read port for results."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from app.application.task_repository import EnqueueTask, NewTask, TaskRecord, TaskRepository
from app.domain.enums import TaskStatus
from app.domain.errors import DomainError
from app.domain.ids import new_task_id


class TaskResults(Protocol):
    """The results of finished tasks, many at once (a page of tasks is one query)."""

    async def results(self, task_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The JSON text of each task's result artifact, for those that have one."""
        ...


class IdempotencyConflict(DomainError):
    """The Idempotency-Key was used before for a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request")
        self.key = key


class DuplicateIdempotencyKey(DomainError):
    """One batch names the same Idempotency-Key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} appears more than once in the batch")
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


def fingerprint(command: EnqueueTask) -> str:
    """What makes two requests 'the same' for Idempotency-Key replay."""
    body = {
        "type": command.type,
        "payload": command.payload,
        "priority": command.priority,
        "domainType": command.domain_type,
        "capabilityType": command.capability_type,
        "executionType": command.execution_type,
        "maxAttempts": command.max_attempts,
        "scheduledAt": command.scheduled_at.isoformat() if command.scheduled_at else None,
        "timeoutSeconds": command.timeout_seconds,
        "retryPolicy": command.retry_policy,
        "correlationId": command.correlation_id,
        "wait": command.wait.as_json() if command.wait else None,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


class TaskNotRequeueable(DomainError):
    def __init__(self, task_id: uuid.UUID, status: TaskStatus) -> None:
        super().__init__(
            f"task {task_id} is {status}; only DeadLetter or Failed tasks are requeued"
        )
        self.task_id = task_id
        self.status = status


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The result: the task as stored, and whether this call created it (False on a
    replay, where `task` is the original)."""

    task: TaskRecord
    created: bool

    @property
    def task_id(self) -> uuid.UUID:
        return self.task.id


async def enqueue_tasks(
    commands: Sequence[EnqueueTask], *, tasks: TaskRepository
) -> list[Enqueued]:
    """Insert tasks in one transaction (all or nothing); replays of an idempotency key
    return the original task; a key reused for a different request is a conflict."""
    seen: set[tuple[uuid.UUID, str]] = set()
    for c in commands:
        if c.idempotency_key is not None:
            if (c.tenant_id, c.idempotency_key) in seen:
                raise DuplicateIdempotencyKey(c.idempotency_key)
            seen.add((c.tenant_id, c.idempotency_key))
    new = [
        NewTask(new_task_id(), c, (c.request_hash or fingerprint(c)) if c.idempotency_key else None)
        for c in commands
    ]
    signal_waits = [t.id for t in new if t.command.wait and t.command.wait.kind == "signal"]
    if not seen and not signal_waits:
        # Nothing can be a replay or a conflict, and the insert is one statement (atomic
        # by itself): no BEGIN and COMMIT round trips around it.
        inserted = {task.id: task for task in await tasks.add_many(new)}
        return [Enqueued(inserted[task.id], created=True) for task in new]
    # One transaction: a conflict found after the insert undoes the whole batch.
    async with tasks.transaction() as tx:
        inserted = {task.id: task for task in await tx.add_many(new)}
        if signal_waits:
            # A signal kept from before the wait answers it now (docs/design/waits.md).
            resumed = await tx.answer_kept_signals([i for i in signal_waits if i in inserted])
            for task_id in resumed:
                inserted[task_id] = replace(inserted[task_id], status=TaskStatus.QUEUED)
        existing = await _replayed(new, inserted, tx)
        results = []
        for task in new:
            record = inserted.get(task.id)
            if record is not None:
                results.append(Enqueued(record, created=True))
                continue
            key = task.command.idempotency_key
            assert key is not None  # only keyed tasks are skipped
            original = existing[(task.command.tenant_id, key)]
            if original.request_hash != task.request_hash:
                raise IdempotencyConflict(key)
            results.append(Enqueued(original, created=False))
    return results


async def enqueue_task(command: EnqueueTask, *, tasks: TaskRepository) -> Enqueued:
    """Insert one task; see `enqueue_tasks`."""
    [result] = await enqueue_tasks([command], tasks=tasks)
    return result


async def _replayed(
    new: Sequence[NewTask], inserted: Container[uuid.UUID], tasks: TaskRepository
) -> dict[tuple[uuid.UUID, str], TaskRecord]:
    skipped: dict[uuid.UUID, list[str]] = {}
    for task in new:
        if task.id not in inserted and task.command.idempotency_key:
            skipped.setdefault(task.command.tenant_id, []).append(task.command.idempotency_key)
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


async def requeue_task(
    tenant_id: uuid.UUID, task_id: uuid.UUID, *, requested_by: str, tasks: TaskRepository
) -> None:
    """Put a DeadLetter (or Failed) task back in the queue with fresh attempts: as many
    as it was given, numbered on from its last (attempt numbers stay unique)."""
    if await tasks.requeue(tenant_id, task_id, requested_by):
        return
    task = await tasks.get(tenant_id, task_id)
    if task is None:
        raise TaskNotFound(task_id)
    raise TaskNotRequeueable(task_id, task.status)
