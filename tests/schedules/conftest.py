"""Fixtures for schedule tests: the engine fixtures, a schedule factory at the store
level, and helpers that read a schedule's tasks as a DBA would."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
import pytest

from app.adapters.postgres.schedule_store import PgScheduleStore
from app.application.schedules import CreateSchedule, ScheduleRecord, create_schedule
from app.application.task_repository import EnqueueTask
from app.bootstrap import Services
from app.domain.schedules import MissedPolicy
from tests.workers.conftest import services, start_worker, tenant  # noqa: F401 (fixtures)

Conn = psycopg.AsyncConnection[Any]
MakeSchedule = Callable[..., Awaitable[ScheduleRecord]]


@pytest.fixture
def store(services: Services) -> PgScheduleStore:  # noqa: F811
    return PgScheduleStore(services.pool)


@pytest.fixture
def make_schedule(store: PgScheduleStore, tenant: uuid.UUID) -> MakeSchedule:  # noqa: F811
    """make_schedule(cron="0 * * * *", name=..., missed="skip", task_type="demo.noop")."""

    async def make(
        cron: str = "0 * * * *",
        *,
        name: str | None = None,
        timezone: str = "UTC",
        missed: str = "skip",
        task_type: str = "demo.noop",
        paused: bool = False,
    ) -> ScheduleRecord:
        command = CreateSchedule(
            tenant_id=tenant,
            name=name or f"s-{uuid.uuid4().hex[:8]}",
            cron=cron,
            timezone=timezone,
            task=EnqueueTask(tenant_id=tenant, type=task_type, payload={"from": "schedule"}),
            missed=MissedPolicy(missed),
            paused=paused,
        )
        return await create_schedule(command, schedules=store)

    return make


async def set_next_run(conn: Conn, schedule_id: uuid.UUID, sql_time: str) -> datetime:
    """Move a schedule's next tick (an SQL expression, e.g. "date_trunc('hour', now())")."""
    cursor = await conn.execute(
        f"UPDATE schedules SET next_run_at = {sql_time} WHERE id = %s RETURNING next_run_at",
        (schedule_id,),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


async def ticks_of(conn: Conn, schedule_id: uuid.UUID) -> list[datetime]:
    """The ticks of a schedule that started a task, in order, read from their tasks'
    first events (`detail.schedule.tick`; a task's scheduled_at moves when a rescue or
    a retry puts it back)."""
    cursor = await conn.execute(
        "SELECT (detail -> 'schedule' ->> 'tick')::timestamptz AS tick FROM task_events"
        " WHERE event_type = 'TaskQueued' AND detail -> 'schedule' ->> 'id' = %s"
        " ORDER BY tick",
        (str(schedule_id),),
    )
    return [row[0] for row in await cursor.fetchall()]
