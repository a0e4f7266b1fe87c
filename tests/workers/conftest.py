"""Fixtures for engine tests: a tenant, the services, and workers running in this process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from app.application.handlers import HandlerRegistry
from app.application.task_repository import EnqueueTask
from app.application.tasks import enqueue_tasks
from app.bootstrap import Services, WorkerProcess, build_services, build_worker
from app.config import Settings, load_settings
from tests.factories import insert_tenant

FAST = {
    "worker_lease_seconds": 2.0,
    "worker_poll_interval_seconds": 0.5,
    "worker_shutdown_grace_seconds": 1.0,
    "log_console": False,
}


def fast_settings(**overrides: Any) -> Settings:
    return load_settings(**{**FAST, **overrides})


@pytest.fixture
async def services(database_url: str, tmp_path: Any) -> AsyncIterator[Services]:
    running = build_services(fast_settings(log_dir=tmp_path), process="api", url=database_url)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def tenant(conn: psycopg.AsyncConnection[Any]) -> uuid.UUID:
    return await insert_tenant(conn)


Enqueue = Callable[..., Awaitable[list[uuid.UUID]]]


@pytest.fixture
def enqueue(services: Services, tenant: uuid.UUID) -> Enqueue:
    """enqueue(type, count=1, **fields) -> the new task ids."""

    async def add(task_type: str, count: int = 1, **fields: Any) -> list[uuid.UUID]:
        commands = [EnqueueTask(tenant_id=tenant, type=task_type, **fields) for _ in range(count)]
        return [r.task_id for r in await enqueue_tasks(commands, tasks=services.tasks)]

    return add


@dataclass
class RunningWorker:
    """A worker (and its maintenance loop) running in this test's event loop."""

    process: WorkerProcess
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Future[Any] | None = None

    async def stop(self) -> None:
        """Stop as SIGTERM would: stop claiming, drain, release, close."""
        if self.stop_event.is_set():
            return
        self.stop_event.set()
        assert self.runner is not None
        await asyncio.wait_for(self.runner, timeout=30)


StartWorker = Callable[..., Awaitable[RunningWorker]]


@pytest.fixture
async def start_worker(database_url: str, tmp_path: Any) -> AsyncIterator[StartWorker]:
    """Start workers in this process; all are stopped (gracefully) at the end of the test."""
    started: list[RunningWorker] = []

    async def start(registry: HandlerRegistry | None = None, **overrides: Any) -> RunningWorker:
        settings = fast_settings(log_dir=tmp_path, **overrides)
        running = RunningWorker(build_worker(settings, registry, url=database_url))
        running.runner = asyncio.create_task(running.process.run(running.stop_event))
        started.append(running)
        return running

    yield start
    for running in started:
        await running.stop()


async def wait_for_status(
    conn: psycopg.AsyncConnection[Any],
    task_ids: list[uuid.UUID],
    statuses: set[str],
    *,
    within: float = 15.0,
) -> dict[uuid.UUID, str]:
    """Poll until every task is in one of `statuses`; return their statuses."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        cursor = await conn.execute(
            "SELECT id, status::text FROM tasks WHERE id = ANY(%s)", (task_ids,)
        )
        current = {row[0]: row[1] for row in await cursor.fetchall()}
        if len(current) == len(task_ids) and all(s in statuses for s in current.values()):
            return current
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"tasks not in {statuses} after {within}s: {current}")
        await asyncio.sleep(0.05)


async def attempts_of(
    conn: psycopg.AsyncConnection[Any], task_id: uuid.UUID
) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(
        "SELECT attempt_no, status::text, error_code, started_at, ended_at, worker_id "
        "FROM task_attempts_current WHERE task_id = %s ORDER BY id",
        (task_id,),
    )
    return await cursor.fetchall()


async def events_of(
    conn: psycopg.AsyncConnection[Any], task_id: uuid.UUID
) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(
        "SELECT sequence, event_type, status::text FROM task_events "
        "WHERE task_id = %s ORDER BY sequence",
        (task_id,),
    )
    return await cursor.fetchall()
