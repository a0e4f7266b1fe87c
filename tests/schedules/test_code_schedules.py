"""Schedules declared in code (HandlerRegistry.schedule), kept in sync as workers start."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.adapters.postgres.schedule_store import PgScheduleStore
from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.application.schedules import SyncReport, sync_code_schedules
from app.bootstrap import ConfigError, build_worker
from app.bootstrap.code_schedules import code_schedules
from app.domain.schedules import InvalidCron, InvalidTimezone
from tests.schedules.conftest import Conn, MakeSchedule
from tests.workers.conftest import RunningWorker, StartWorker, fast_settings

COLUMNS = "name, cron, timezone, task, missed, paused, source, retired_at IS NOT NULL, id"


async def noop(ctx: TaskContext) -> None:
    return None


def registry_with(
    tenant: uuid.UUID, *, cron: str | None = "0 6 * * *", task_type: str = "sched.report"
) -> HandlerRegistry:
    registry = HandlerRegistry()
    registry.register(task_type, noop)
    if cron is not None:
        registry.schedule(
            "morning",
            cron,
            timezone="Europe/Rome",
            task={"type": task_type, "payload": {"scope": "all"}, "priority": 2},
            tenant_id=tenant,
        )
    return registry


async def row(conn: Conn, name: str = "morning") -> tuple[Any, ...] | None:
    cursor = await conn.execute(f"SELECT {COLUMNS} FROM schedules WHERE name = %s", (name,))
    return await cursor.fetchone()


async def run_until_synced(start_worker: StartWorker, conn: Conn, registry: HandlerRegistry) -> Any:
    """Start a worker with `registry`, wait for its sync (its log line), stop it."""
    before = await _updated(conn)
    worker: RunningWorker = await start_worker(registry)
    deadline = asyncio.get_running_loop().time() + 15
    while await _updated(conn) == before:
        assert asyncio.get_running_loop().time() < deadline, "the worker never synced"
        await asyncio.sleep(0.05)
    await worker.stop()
    return await row(conn)


async def sync(registry: HandlerRegistry, store: PgScheduleStore) -> SyncReport:
    """What a worker with `registry` does as it starts, awaited."""
    schedules = code_schedules(registry, default_max_attempts=3)
    report = await sync_code_schedules(schedules.declared, schedules.handled_types, schedules=store)
    assert report is not None
    return report


async def _updated(conn: Conn) -> Any:
    cursor = await conn.execute("SELECT max(updated_at), count(*) FROM schedules")
    return await cursor.fetchone()


async def test_a_worker_stores_the_schedules_its_code_declares(
    conn: Conn, tenant: uuid.UUID, start_worker: StartWorker
) -> None:
    found = await run_until_synced(start_worker, conn, registry_with(tenant))
    task = {
        "type": "sched.report",
        "payload": {"scope": "all"},
        "priority": 2,
        "maxAttempts": 3,
        "executionType": "Async",
    }
    assert found[:8] == ("morning", "0 6 * * *", "Europe/Rome", task, "skip", False, "code", False)


async def test_a_changed_cron_is_updated_in_place_on_the_next_start(
    conn: Conn, tenant: uuid.UUID, start_worker: StartWorker
) -> None:
    first = await run_until_synced(start_worker, conn, registry_with(tenant))
    second = await run_until_synced(start_worker, conn, registry_with(tenant, cron="0 7 * * *"))
    assert (second[1], second[-1]) == ("0 7 * * *", first[-1])  # same schedule, new cron
    cursor = await conn.execute(
        "SELECT extract(hour FROM next_run_at AT TIME ZONE 'Europe/Rome') FROM schedules"
    )
    assert await cursor.fetchone() == (7,)


async def test_a_schedule_gone_from_the_code_is_paused_as_retired_and_comes_back_if_declared(
    conn: Conn, tenant: uuid.UUID, start_worker: StartWorker
) -> None:
    await run_until_synced(start_worker, conn, registry_with(tenant))
    gone = await run_until_synced(start_worker, conn, registry_with(tenant, cron=None))
    assert (gone[5], gone[7]) == (True, True)  # paused, retired
    back = await run_until_synced(start_worker, conn, registry_with(tenant))
    assert (back[5], back[7]) == (False, False)


async def test_a_worker_leaves_code_schedules_of_task_types_it_does_not_handle(
    conn: Conn, tenant: uuid.UUID, start_worker: StartWorker, store: PgScheduleStore
) -> None:
    await run_until_synced(start_worker, conn, registry_with(tenant))
    other = registry_with(tenant, cron=None, task_type="sched.other")  # another app
    report = await sync(other, store)
    assert (report.written, report.retired) == ([], [])
    found = await row(conn)
    assert found is not None
    assert (found[5], found[7]) == (False, False)


async def test_a_name_an_api_schedule_holds_stays_the_api_schedules(
    conn: Conn, tenant: uuid.UUID, store: PgScheduleStore, make_schedule: MakeSchedule
) -> None:
    await make_schedule("0 3 * * *", name="morning")
    report = await sync(registry_with(tenant), store)
    assert report.written == []
    found = await row(conn)
    assert found is not None
    assert (found[1], found[6]) == ("0 3 * * *", "api")


def test_a_declared_task_the_api_would_refuse_stops_the_worker_at_start() -> None:
    registry = HandlerRegistry()
    task = {"type": "x", "priority": 99}
    registry.schedule("bad", "* * * * *", task=task, tenant_id=uuid.UUID(int=7))
    with pytest.raises(ConfigError, match=r"schedule 'bad'.*priority"):
        build_worker(fast_settings(), registry, url="postgresql://127.0.0.1:1/none")


def test_a_bad_cron_or_time_zone_is_refused_where_it_is_declared() -> None:
    registry = HandlerRegistry()
    with pytest.raises(InvalidCron):
        registry.schedule("x", "every day", task="t", tenant_id=uuid.UUID(int=1))
    with pytest.raises(InvalidTimezone):
        registry.schedule("x", "* * * * *", task="t", tenant_id=uuid.UUID(int=1), timezone="CET+1")
    registry.schedule("x", "* * * * *", task="t", tenant_id=uuid.UUID(int=1))
    with pytest.raises(ValueError, match="already declared"):
        registry.schedule("x", "0 * * * *", task="t", tenant_id=uuid.UUID(int=1))
