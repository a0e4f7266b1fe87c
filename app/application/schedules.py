"""Use cases on schedules (cron): create, read, pause, resume, delete; and the sync of
schedules declared in code (HandlerRegistry.schedule) as workers start. The leader's
job that starts the ticks is app/application/schedule_keeper.py. See
docs/design/schedules.md."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

import structlog

from app.application.task_repository import EnqueueTask
from app.domain.errors import DomainError
from app.domain.ids import new_task_id
from app.domain.schedules import (
    NEXT_RUNS_SHOWN,
    MissedPolicy,
    check_cron,
    check_timezone,
    next_runs,
    next_tick,
)

log = structlog.get_logger("app.schedules")

Source = Literal["api", "code"]


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A schedule as stored. `task` is the task spec each tick starts (camelCase keys)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    cron: str
    timezone: str
    task: Mapping[str, Any]
    missed: MissedPolicy
    paused: bool
    next_run_at: datetime
    last_tick_at: datetime | None
    source: Source
    retired_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def upcoming(self, count: int = NEXT_RUNS_SHOWN) -> list[datetime]:
        """The next `count` ticks, in the schedule's zone; none while paused."""
        if self.paused:
            return []
        zone = check_timezone(self.timezone)
        first = self.next_run_at.astimezone(zone)
        return [first, *next_runs(self.cron, zone, first, count - 1)] if count else []


@dataclass(frozen=True, slots=True)
class CreateSchedule:
    """Command: start `task` (its tenant and scheduled time are the schedule's and the
    tick's) at every tick of `cron` in `timezone`."""

    tenant_id: uuid.UUID
    name: str
    cron: str
    timezone: str
    task: EnqueueTask
    missed: MissedPolicy = MissedPolicy.SKIP
    paused: bool = False


@dataclass(frozen=True, slots=True)
class TickTask:
    """A task a tick starts: the tick's id and key make it one task per tick."""

    schedule_id: uuid.UUID
    tick: datetime
    task_id: uuid.UUID
    command: EnqueueTask


@dataclass(frozen=True, slots=True)
class Advance:
    """Where a schedule goes on from after a round."""

    schedule_id: uuid.UUID
    next_run_at: datetime
    last_tick_at: datetime | None


class ScheduleStore(Protocol):
    """Schedules in the database."""

    def transaction(self) -> AbstractAsyncContextManager[ScheduleStore]:
        """A store whose calls share one transaction (committed when the block ends)."""
        ...

    async def now(self) -> datetime:
        """The database clock (in a transaction: its start)."""
        ...

    async def create(
        self, schedule_id: uuid.UUID, command: CreateSchedule, next_run_at: datetime
    ) -> ScheduleRecord | None:
        """Insert a schedule; None when the tenant has one of that name already."""
        ...

    async def get(self, tenant_id: uuid.UUID, schedule_id: uuid.UUID) -> ScheduleRecord | None:
        """A schedule of this tenant, or None."""
        ...

    async def page(
        self, tenant_id: uuid.UUID | None, *, after: str | None, limit: int
    ) -> list[ScheduleRecord]:
        """Schedules by name after `after`; of one tenant, or of all (None)."""
        ...

    async def set_paused(
        self,
        tenant_id: uuid.UUID,
        schedule_id: uuid.UUID,
        paused: bool,
        next_run_at: datetime | None,
    ) -> ScheduleRecord | None:
        """Pause, or resume from `next_run_at`; None if not found (or retired, on resume)."""
        ...

    async def delete(self, tenant_id: uuid.UUID, schedule_id: uuid.UUID) -> bool:
        """Delete an API schedule or a retired code schedule; False otherwise."""
        ...

    async def lock_due(self, now: datetime, limit: int) -> list[ScheduleRecord]:
        """Lock (SKIP LOCKED) up to `limit` active schedules due by `now`, oldest first."""
        ...

    async def start_ticks(self, ticks: Sequence[TickTask]) -> int:
        """Insert the ticks' tasks (skipping a tick whose task exists) with their
        TaskQueued events naming the schedule and tick; how many were inserted."""
        ...

    async def advance(self, advances: Sequence[Advance]) -> None:
        """Move locked schedules on to their next tick."""
        ...

    async def sync_code(
        self, declared: Sequence[CodeSchedule], handled_types: Collection[str], now: datetime
    ) -> SyncReport:
        """Upsert the declared code schedules; retire (pause) code schedules of
        `handled_types` that are no longer declared. One transaction."""
        ...


class ScheduleNotFound(DomainError):
    def __init__(self, schedule_id: uuid.UUID) -> None:
        super().__init__(f"schedule {schedule_id} was not found")


class ScheduleNameTaken(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a schedule named {name!r} exists already; delete it first")


class CodeScheduleReadOnly(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"schedule {name!r} is declared in code (HandlerRegistry.schedule): change it "
            "there; only pause and resume apply here"
        )


class ScheduleRetired(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"schedule {name!r} is no longer declared in code and stays paused; delete it"
        )


async def create_schedule(command: CreateSchedule, *, schedules: ScheduleStore) -> ScheduleRecord:
    """Create a schedule; its first tick is the first after now. A name the tenant
    already uses is a conflict."""
    cron = check_cron(command.cron)
    zone = check_timezone(command.timezone)
    first = next_tick(cron, zone, await schedules.now())
    record = await schedules.create(new_task_id(), replace(command, cron=cron), first)
    if record is None:
        raise ScheduleNameTaken(command.name)
    log.info("schedule_created", schedule_id=str(record.id), tenant_id=str(record.tenant_id))
    return record


async def get_schedule(
    tenant_id: uuid.UUID, schedule_id: uuid.UUID, *, schedules: ScheduleStore
) -> ScheduleRecord:
    """A schedule of this tenant; ScheduleNotFound for another tenant's."""
    record = await schedules.get(tenant_id, schedule_id)
    if record is None:
        raise ScheduleNotFound(schedule_id)
    return record


async def pause_schedule(
    tenant_id: uuid.UUID, schedule_id: uuid.UUID, *, schedules: ScheduleStore
) -> ScheduleRecord:
    """Pause: no task starts until it is resumed (code schedules too)."""
    record = await schedules.set_paused(tenant_id, schedule_id, True, None)
    if record is None:
        raise ScheduleNotFound(schedule_id)
    return record


async def resume_schedule(
    tenant_id: uuid.UUID, schedule_id: uuid.UUID, *, schedules: ScheduleStore
) -> ScheduleRecord:
    """Resume from the first tick after now: ticks while paused are not caught up."""
    current = await get_schedule(tenant_id, schedule_id, schedules=schedules)
    if current.retired_at is not None:
        raise ScheduleRetired(current.name)
    if not current.paused:
        return current
    first = next_tick(current.cron, check_timezone(current.timezone), await schedules.now())
    record = await schedules.set_paused(tenant_id, schedule_id, False, first)
    if record is None:  # deleted, or retired, meanwhile
        raise ScheduleNotFound(schedule_id)
    return record


async def delete_schedule(
    tenant_id: uuid.UUID, schedule_id: uuid.UUID, *, schedules: ScheduleStore
) -> None:
    """Delete a schedule (tasks it started stay). A code schedule still declared is a
    conflict: remove it from the code, or pause it."""
    if await schedules.delete(tenant_id, schedule_id):
        return
    record = await get_schedule(tenant_id, schedule_id, schedules=schedules)
    raise CodeScheduleReadOnly(record.name)


def task_spec(task: EnqueueTask) -> dict[str, Any]:
    """The task a tick starts, as stored (camelCase keys, as task_groups.on_complete)."""
    spec: dict[str, Any] = {
        "type": task.type,
        "payload": dict(task.payload),
        "priority": task.priority,
        "maxAttempts": task.max_attempts,
        "executionType": task.execution_type.value,
    }
    for key, value in (
        ("domainType", task.domain_type.value if task.domain_type else None),
        ("capabilityType", task.capability_type.value if task.capability_type else None),
        ("timeoutSeconds", task.timeout_seconds),
        ("retryPolicy", dict(task.retry_policy) if task.retry_policy else None),
        ("correlationId", task.correlation_id),
    ):
        if value is not None:
            spec[key] = value
    return spec


@dataclass(frozen=True, slots=True)
class CodeSchedule:
    """A schedule declared in code, checked and ready to store."""

    tenant_id: uuid.UUID
    name: str
    cron: str
    timezone: str
    task: EnqueueTask
    missed: MissedPolicy = MissedPolicy.SKIP


@dataclass(frozen=True, slots=True)
class SyncReport:
    written: list[tuple[uuid.UUID, str]]
    retired: list[tuple[uuid.UUID, str]]


SYNC_RETRY_START = 0.5
SYNC_RETRY_MAX = 30.0


async def sync_code_schedules(
    declared: Sequence[CodeSchedule],
    handled_types: Collection[str],
    *,
    schedules: ScheduleStore,
    stop: asyncio.Event | None = None,
) -> SyncReport | None:
    """Store the worker's code schedules (upsert by tenant and name), and pause, as
    retired, the code schedules of the task types this worker handles that its code no
    longer declares. Retries while the database is away; None if `stop` came first."""
    delay = SYNC_RETRY_START
    while stop is None or not stop.is_set():
        try:
            report = await schedules.sync_code(declared, handled_types, await schedules.now())
        except Exception as error:
            log.warning("code_schedules_not_synced", error_type=type(error).__name__)
            if stop is None:
                raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, SYNC_RETRY_MAX)
            continue
        written = {(s.tenant_id, s.name) for s in declared}
        for tenant_id, name in sorted(written - set(report.written)):
            # An unknown tenant, or a name an API schedule of the tenant holds.
            log.warning("code_schedule_not_stored", tenant_id=str(tenant_id), name=name)
        if report.written or report.retired:
            log.info(
                "code_schedules_synced", written=len(report.written), retired=len(report.retired)
            )
        return report
    return None
