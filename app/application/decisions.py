"""Use cases on tasks that wait for people: a decision, what a task waits for, and the
waiting list. The task is parked (Created, one `task_waits` row, no lease); a decision
ends the wait in the database's task_decide, under the task's row lock, so it and the
deadline sweep cannot both end one wait (docs/design/waits.md)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from app.application.task_repository import TaskRecord
from app.application.tasks import TaskNotFound
from app.domain.enums import TaskStatus
from app.domain.errors import DomainError
from app.domain.waits import input_errors

DecisionKind = Literal["approve", "reject"]
# What `?waitingFor=` lists: the wait kinds of task_waits behind each word.
WAITING_FOR: dict[str, tuple[str, ...]] = {
    "decision": ("approval", "input"),
    "signal": ("signal",),
    "any": ("approval", "input", "signal"),
}


@dataclass(frozen=True, slots=True)
class TaskWait:
    """What one parked task waits for (its `task_waits` row)."""

    task_id: uuid.UUID
    kind: str
    wait_key: str
    since: datetime
    on_deadline: str
    question: str | None = None
    schema: Mapping[str, Any] | None = None
    signal_name: str | None = None
    signal_key: str | None = None
    deadline_at: datetime | None = None

    @property
    def awaits_people(self) -> bool:
        return self.kind in WAITING_FOR["decision"]


@dataclass(frozen=True, slots=True)
class ParkedTask:
    """A row of the task_waiting view: a parked task, why it waits, since when."""

    task_id: uuid.UUID
    tenant_id: uuid.UUID
    type: str
    wait_reason: str | None
    since: datetime
    waiting: timedelta
    kind: str | None = None
    question: str | None = None
    signal_name: str | None = None
    signal_key: str | None = None
    deadline_at: datetime | None = None
    on_deadline: str | None = None
    parent_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class LockedTask:
    """A task locked for a decision: its status and its wait (None: it waits for nothing)."""

    status: TaskStatus
    wait: TaskWait | None


@dataclass(frozen=True, slots=True)
class PastDecision:
    """A decision already made on a task (`task_decisions`)."""

    wait_key: str
    decision: str
    decided_by: str | None
    api_key_id: uuid.UUID | None
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class DecideTask:
    """Command: a person's decision on a task waiting for one."""

    tenant_id: uuid.UUID
    task_id: uuid.UUID
    decision: DecisionKind
    api_key_id: uuid.UUID | None
    comment: str | None = None
    input: Any = None
    decided_by: str | None = None


@dataclass(frozen=True, slots=True)
class Decided:
    """A decision taken: the wait it ended, and the task's status after it."""

    task_id: uuid.UUID
    kind: str
    wait_key: str
    status: TaskStatus


class WaitStore(Protocol):
    """Waits and decisions in the database."""

    def transaction(self) -> AbstractAsyncContextManager[WaitStore]:
        """A store whose calls share one transaction (committed when the block ends)."""
        ...

    async def lock(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> LockedTask | None:
        """Lock a task of the tenant (until the transaction ends) and read its wait;
        None when the tenant has no such task."""
        ...

    async def decide(self, command: DecideTask) -> TaskStatus | None:
        """End the task's wait with the decision (and settle a child's parent); the
        status after it, or None if it was not waiting for a decision."""
        ...

    async def last_decision(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> PastDecision | None:
        """The newest decision made on the task, if any."""
        ...

    async def waits_of(
        self, tenant_id: uuid.UUID, task_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, TaskWait]:
        """What each of these tasks waits for (those that wait), in one query."""
        ...

    async def list_waiting(
        self,
        tenant_id: uuid.UUID,
        kinds: Collection[str],
        filters: Mapping[str, Any],
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[TaskRecord], int]:
        """A page of the tenant's tasks waiting for one of `kinds`, the longest waiting
        first, and how many there are."""
        ...

    async def parked(self, tenant_id: uuid.UUID | None, *, limit: int) -> list[ParkedTask]:
        """Every parked task (of one tenant, or all), the longest waiting first, from the
        task_waiting view: a person's, a signal's, or children's, dependencies', a
        compensation's turn."""
        ...


class NotWaitingForDecision(DomainError):
    """The task waits for no decision: it is queued, running, finished, cancelled, or
    waits for a signal."""


class AlreadyDecided(DomainError):
    """The wait this decision was for has been answered already."""


class InputMismatch(DomainError):
    """The decision's input does not match the schema the question declared."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("the input does not match the schema declared for this decision")
        self.errors = errors


async def decide_task(command: DecideTask, *, waits: WaitStore) -> Decided:
    """Take a person's decision on a task waiting for one (an approval before it runs,
    or input its handler asked for).

    The input is checked against the declared schema under the task's lock, so the
    schema checked is that of the wait the decision ends. An approval needs input that
    fits (when a schema was declared); a rejection need carry none, but input sent with
    it must fit too. Another tenant's task is not found; a task that waits for no
    decision (or whose wait was answered) is a conflict.
    """
    async with waits.transaction() as tx:
        locked = await tx.lock(command.tenant_id, command.task_id)
        if locked is None:
            raise TaskNotFound(command.task_id)
        wait = locked.wait
        if wait is None or not wait.awaits_people or locked.status is not TaskStatus.CREATED:
            raise await _refusal(command, locked, tx)
        if command.decision == "approve" or command.input is not None:
            errors = input_errors(wait.schema, command.input)
            if errors:
                raise InputMismatch(errors)
        status = await tx.decide(command)
        if status is None:  # not possible under our lock; the database says last
            raise NotWaitingForDecision(f"task {command.task_id} is not waiting for a decision")
    return Decided(command.task_id, wait.kind, wait.wait_key, status)


async def _refusal(command: DecideTask, locked: LockedTask, waits: WaitStore) -> DomainError:
    task_id = command.task_id
    if locked.wait is not None and locked.wait.kind == "signal":
        return NotWaitingForDecision(
            f"task {task_id} waits for the signal {locked.wait.signal_name!r}, not a decision"
        )
    past = await waits.last_decision(command.tenant_id, task_id)
    if past is not None and locked.wait is None:
        return AlreadyDecided(
            f"task {task_id} was decided already ({past.decision}, "
            f"{past.decided_at.isoformat()}); it is {locked.status.value} now"
        )
    return NotWaitingForDecision(
        f"task {task_id} is {locked.status.value} and not waiting for a decision"
    )


async def list_waiting(
    tenant_id: uuid.UUID,
    waiting_for: str,
    filters: Mapping[str, Any],
    *,
    limit: int,
    offset: int,
    waits: WaitStore,
) -> tuple[list[TaskRecord], int]:
    """A page of the tenant's parked tasks waiting for `waiting_for` (decision: people,
    for an approval or input; signal; any), the longest waiting first, and the total."""
    kinds = WAITING_FOR[waiting_for]
    return await waits.list_waiting(tenant_id, kinds, filters, limit=limit, offset=offset)
