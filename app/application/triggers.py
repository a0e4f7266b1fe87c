"""Use cases on triggers: create one (checked before it is stored), list, read, pause,
resume and delete them. The database fires them, in the transaction of the event
(app/domain/triggers.py; docs/design/triggers.md)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.domain.errors import DomainError
from app.domain.events import ALL_EVENT_TYPES
from app.domain.ids import new_task_id
from app.domain.triggers import (
    MAX_TRIGGERS,
    EventFilter,
    Problem,
    TriggerKind,
    filter_problems,
    template_problems,
)

EVENT_TYPE_NAMES = frozenset(e.value for e in ALL_EVENT_TYPES)


@dataclass(frozen=True, slots=True)
class CreateTrigger:
    """Command: when `events` match (or signal `signal_name` arrives), start `task`.

    `task` is the spec of the task to start, camelCase keys as POST /api/v1/tasks takes
    them, with every default filled in (type, payload template, priority, maxAttempts,
    executionType; optionally domainType, capabilityType, timeoutSeconds, retryPolicy,
    correlationId, delaySeconds)."""

    tenant_id: uuid.UUID
    name: str
    kind: TriggerKind
    task: Mapping[str, Any]
    events: EventFilter = field(default_factory=EventFilter)
    signal_name: str | None = None


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """A trigger as stored, with how often it fired."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    kind: TriggerKind
    events: EventFilter
    signal_name: str | None
    task: Mapping[str, Any]
    active: bool
    fired_count: int
    last_fired_at: datetime | None
    skipped_count: int
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TriggerStore(Protocol):
    """Triggers in the database (the firing itself is the database's: migration 0017)."""

    async def create(self, trigger_id: uuid.UUID, command: CreateTrigger) -> TriggerRecord | None:
        """Store a trigger, active; None when the tenant has one of that name already."""
        ...

    async def get(self, tenant_id: uuid.UUID, trigger_id: uuid.UUID) -> TriggerRecord | None:
        """One trigger of one tenant, or None."""
        ...

    async def list(self, tenant_id: uuid.UUID) -> Sequence[TriggerRecord]:
        """The tenant's triggers, by name."""
        ...

    async def set_active(
        self, tenant_id: uuid.UUID, trigger_id: uuid.UUID, active: bool
    ) -> TriggerRecord | None:
        """Pause (False) or resume (True) a trigger; None when there is no such trigger."""
        ...

    async def delete(self, tenant_id: uuid.UUID, trigger_id: uuid.UUID) -> bool:
        """Delete a trigger; False when there is no such trigger."""
        ...


class TriggerNotFound(DomainError):
    def __init__(self, trigger_id: uuid.UUID) -> None:
        super().__init__(f"trigger {trigger_id} was not found")
        self.trigger_id = trigger_id


class TriggerNameTaken(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a trigger named {name!r} exists already")
        self.name = name


class TooManyTriggers(DomainError):
    def __init__(self) -> None:
        super().__init__(f"a tenant may have {MAX_TRIGGERS} triggers; delete one first")


class InvalidTrigger(DomainError):
    """What the trigger waits for, or its task's template, cannot work; `problems` says
    where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = list(problems)


def trigger_problems(command: CreateTrigger) -> list[Problem]:
    """Everything wrong with a trigger, each named by its field in the request."""
    events = command.events if command.kind is TriggerKind.EVENT else None
    problems = filter_problems(command.kind, command.events, EVENT_TYPE_NAMES, at="on")
    problems += template_problems(
        command.task.get("payload", {}), command.kind, events, at="task.payload"
    )
    return problems


async def create_trigger(command: CreateTrigger, *, triggers: TriggerStore) -> TriggerRecord:
    """Check and store a trigger (active at once); InvalidTrigger names what is wrong."""
    problems = trigger_problems(command)
    if problems:
        raise InvalidTrigger(problems)
    if len(await triggers.list(command.tenant_id)) >= MAX_TRIGGERS:
        raise TooManyTriggers()
    created = await triggers.create(new_task_id(), command)
    if created is None:
        raise TriggerNameTaken(command.name)
    return created


async def get_trigger(
    tenant_id: uuid.UUID, trigger_id: uuid.UUID, *, triggers: TriggerStore
) -> TriggerRecord:
    """One trigger; TriggerNotFound for another tenant's."""
    found = await triggers.get(tenant_id, trigger_id)
    if found is None:
        raise TriggerNotFound(trigger_id)
    return found


async def list_triggers(tenant_id: uuid.UUID, *, triggers: TriggerStore) -> Sequence[TriggerRecord]:
    """The tenant's triggers, by name."""
    return await triggers.list(tenant_id)


async def set_trigger_active(
    tenant_id: uuid.UUID, trigger_id: uuid.UUID, active: bool, *, triggers: TriggerStore
) -> TriggerRecord:
    """Pause a trigger (it fires no more, from the next event on) or resume it (events
    that happened while it was paused start nothing)."""
    found = await triggers.set_active(tenant_id, trigger_id, active)
    if found is None:
        raise TriggerNotFound(trigger_id)
    return found


async def delete_trigger(
    tenant_id: uuid.UUID, trigger_id: uuid.UUID, *, triggers: TriggerStore
) -> None:
    """Delete a trigger; the tasks it started are left as they are."""
    if not await triggers.delete(tenant_id, trigger_id):
        raise TriggerNotFound(trigger_id)
