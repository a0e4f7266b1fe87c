"""The schedule keeper: the maintenance leader's job that starts the due ticks' tasks,
one per tick, a batch of schedules per transaction (docs/design/schedules.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from app.application.schedules import Advance, ScheduleRecord, ScheduleStore, TickTask
from app.application.task_repository import EnqueueTask
from app.domain.enums import CapabilityType, DomainType, ExecutionType
from app.domain.schedules import check_timezone, plan_ticks, tick_idempotency_key, tick_task_id

log = structlog.get_logger("app.schedules")


def tick_command(schedule: ScheduleRecord, tick: datetime) -> EnqueueTask:
    """The task of one tick: the schedule's spec, due at the tick, keyed by it."""
    spec = schedule.task
    domain, capability = spec.get("domainType"), spec.get("capabilityType")
    return EnqueueTask(
        tenant_id=schedule.tenant_id,
        type=spec["type"],
        payload=spec["payload"],
        priority=spec["priority"],
        domain_type=DomainType(domain) if domain else None,
        capability_type=CapabilityType(capability) if capability else None,
        execution_type=ExecutionType(spec["executionType"]),
        max_attempts=spec["maxAttempts"],
        scheduled_at=tick,
        timeout_seconds=spec.get("timeoutSeconds"),
        retry_policy=spec.get("retryPolicy"),
        correlation_id=spec.get("correlationId"),
        idempotency_key=tick_idempotency_key(schedule.id, tick),
    )


@dataclass(frozen=True, slots=True)
class KeeperConfig:
    batch_size: int = 100
    # Ticks younger than this are started however late the round (a leader change takes
    # seconds); older ones were missed and follow the schedule's `missed` policy.
    catch_up_seconds: float = 60.0


class ScheduleKeeper:
    """The maintenance leader's job: start the due ticks' tasks, one per tick."""

    def __init__(self, store: ScheduleStore, config: KeeperConfig | None = None) -> None:
        self._store = store
        self.config = config or KeeperConfig()

    async def run_once(self) -> int:
        """Start every due tick, a batch of schedules per transaction; how many tasks."""
        started = 0
        while True:
            batch, inserted = await self._batch()
            started += inserted
            if batch < self.config.batch_size:
                return started

    async def _batch(self) -> tuple[int, int]:
        catch_up = timedelta(seconds=self.config.catch_up_seconds)
        async with self._store.transaction() as tx:
            now = await tx.now()
            due = await tx.lock_due(now, self.config.batch_size)
            ticks: list[TickTask] = []
            advances: list[Advance] = []
            for schedule in due:
                plan = plan_ticks(
                    schedule.cron,
                    check_timezone(schedule.timezone),
                    next_run_at=schedule.next_run_at,
                    now=now,
                    missed=schedule.missed,
                    catch_up=catch_up,
                )
                if plan.skipped:
                    log.info("schedule_ticks_missed", schedule_id=str(schedule.id))
                ticks += [
                    TickTask(
                        schedule.id, t, tick_task_id(schedule.id, t), tick_command(schedule, t)
                    )
                    for t in plan.ticks
                ]
                last = plan.ticks[-1] if plan.ticks else None
                advances.append(Advance(schedule.id, plan.next_run_at, last))
            inserted = await tx.start_ticks(ticks) if ticks else 0
            if advances:
                await tx.advance(advances)
        return len(due), inserted
