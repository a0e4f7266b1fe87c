"""Use cases on sagas: create one (idempotent, in one statement), read it with its steps,
compensations and timeline, cancel it. The database moves a saga on in the transaction
of each step's ending (app/domain/sagas.py; docs/design/dependencies.md, "Saga")."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from app.application.batches import child_ids
from app.application.task_repository import EnqueueTask, TaskRepository
from app.application.tasks import IdempotencyConflict, TaskNotFound, cancel_task, fingerprint
from app.domain.enums import TaskStatus
from app.domain.errors import DomainError
from app.domain.ids import new_task_id
from app.domain.sagas import SagaPhase, saga_error

SAGA_TASK_TYPE = "saga"


@dataclass(frozen=True, slots=True)
class SagaStep:
    """One step: its task, and the task that undoes it (run only if a later step fails)."""

    task: EnqueueTask
    compensation: EnqueueTask | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CreateSaga:
    """Command: steps run one after another; on failure, compensations newest first."""

    tenant_id: uuid.UUID
    steps: Sequence[SagaStep]
    # The failed step's own compensation runs too if the step ran at least once (it may
    # have done part of its work before failing).
    compensate_failed_step: bool = True
    priority: int = 5
    correlation_id: str | None = None
    trace_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class StepView:
    """A step as it stands: its task, and its compensation's task once one was queued."""

    position: int
    name: str | None
    task_id: uuid.UUID
    type: str
    status: TaskStatus
    attempts: int
    last_error: str | None
    compensation_type: str | None
    compensation_task_id: uuid.UUID | None
    compensation_status: TaskStatus | None
    compensation_attempts: int | None
    compensation_error: str | None
    compensation_order: int | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    task_id: uuid.UUID
    event_type: str
    status: TaskStatus
    occurred_at: datetime
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SagaRecord:
    """A saga as stored: its status and phase, its steps, its timeline."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    status: TaskStatus
    phase: SagaPhase
    failed_step: int | None
    failed_compensation: int | None
    compensate_failed_step: bool
    request_hash: str | None
    created_at: datetime
    completed_at: datetime | None
    cancel_requested_at: datetime | None
    steps: Sequence[StepView] = field(default_factory=list)
    timeline: Sequence[TimelineEntry] = field(default_factory=list)


class SagaStore(Protocol):
    """Sagas in the database."""

    def transaction(self) -> AbstractAsyncContextManager[SagaStore]:
        """A store whose calls share one transaction (committed when the block ends)."""
        ...

    async def create(
        self, saga: CreateSaga, saga_id: uuid.UUID, step_ids: Sequence[uuid.UUID]
    ) -> bool:
        """Insert the saga, its group, its steps (the first queued, the rest held) and
        their chain in one statement; False when the tenant already used its
        idempotency key (nothing inserted)."""
        ...

    async def get(self, tenant_id: uuid.UUID, saga_id: uuid.UUID) -> SagaRecord | None:
        """A saga with its steps and timeline, or None."""
        ...

    async def find(self, tenant_id: uuid.UUID, idempotency_key: str) -> uuid.UUID | None:
        """The saga created under this idempotency key."""
        ...


class InvalidSaga(DomainError):
    """The steps cannot run as given (none, too many, a reference to a later step)."""


class SagaNotRunning(DomainError):
    """A saga that is compensating or has ended cannot be cancelled."""

    def __init__(self, saga_id: uuid.UUID, phase: SagaPhase) -> None:
        super().__init__(f"saga {saga_id} is {phase.value}: only a running saga is cancelled")


@dataclass(frozen=True, slots=True)
class SagaCreated:
    saga: SagaRecord
    created: bool


def saga_fingerprint(command: CreateSaga) -> str:
    """What makes two saga requests 'the same' for an Idempotency-Key replay."""
    body = {
        "steps": [
            {
                "name": s.name,
                "task": fingerprint(s.task),
                "compensation": fingerprint(s.compensation) if s.compensation else None,
            }
            for s in command.steps
        ],
        "compensateFailedStep": command.compensate_failed_step,
        "priority": command.priority,
        "correlationId": command.correlation_id,
    }
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def check_saga(command: CreateSaga) -> None:
    """InvalidSaga unless the steps can run as given."""
    problem = saga_error(
        [s.name for s in command.steps],
        [s.task.payload for s in command.steps],
        [s.compensation.payload if s.compensation else None for s in command.steps],
    )
    if problem is not None:
        raise InvalidSaga(problem)


async def create_saga(command: CreateSaga, *, sagas: SagaStore) -> SagaCreated:
    """Create a saga and its steps in one transaction. A replay of its idempotency key
    answers the original saga; the key reused for another request is a conflict."""
    check_saga(command)
    request_hash = None
    if command.idempotency_key is not None:
        request_hash = command.request_hash or saga_fingerprint(command)
        command = replace(command, request_hash=request_hash)
    saga_id = new_task_id()
    async with sagas.transaction() as tx:
        created = await tx.create(command, saga_id, child_ids(len(command.steps)))
        if not created:
            assert command.idempotency_key is not None  # only a keyed insert is skipped
            found = await tx.find(command.tenant_id, command.idempotency_key)
            if found is None:
                raise IdempotencyConflict(command.idempotency_key)  # another kind holds it
            saga_id = found
        record = await tx.get(command.tenant_id, saga_id)
    if record is None:
        raise TaskNotFound(saga_id)
    if not created and record.request_hash != request_hash:
        raise IdempotencyConflict(str(command.idempotency_key))
    return SagaCreated(record, created)


async def get_saga(tenant_id: uuid.UUID, saga_id: uuid.UUID, *, sagas: SagaStore) -> SagaRecord:
    """A saga with its steps and timeline; TaskNotFound for another tenant's or a task
    that is not a saga."""
    record = await sagas.get(tenant_id, saga_id)
    if record is None:
        raise TaskNotFound(saga_id)
    return record


async def cancel_saga(
    tenant_id: uuid.UUID, saga_id: uuid.UUID, *, sagas: SagaStore, tasks: TaskRepository
) -> TaskStatus:
    """Cancel a running saga: its held steps at once, its running step by asking its
    worker; once that step has stopped, the steps that succeeded are compensated."""
    record = await get_saga(tenant_id, saga_id, sagas=sagas)
    if record.phase is not SagaPhase.RUNNING:
        raise SagaNotRunning(saga_id, record.phase)
    return await cancel_task(tenant_id, saga_id, tasks=tasks)
