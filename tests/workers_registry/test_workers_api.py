"""GET /api/v1/workers: the registry for admin keys, a 403 for any other key."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from tests.api.conftest import Caller, assert_problem
from tests.workers.conftest import Enqueue, StartWorker
from tests.workers_registry.test_registry import row_when

Conn = psycopg.AsyncConnection[Any]


async def test_an_admin_key_lists_workers_with_the_tasks_they_hold(
    conn: Conn, admin: Caller, start_worker: StartWorker, enqueue: Enqueue
) -> None:
    release = asyncio.Event()
    handlers = HandlerRegistry()

    @handlers.handler("test.hold")
    async def hold(ctx: TaskContext) -> None:
        await release.wait()

    await enqueue("test.hold", 2)
    running = await start_worker(handlers, worker_id="api-w1", worker_concurrency=4)
    await row_when(conn, "api-w1", lambda r: r["held_tasks"] == 2)

    response = await admin.http.get("/api/v1/workers")

    assert response.status_code == 200
    [worker] = response.json()["workers"]
    assert worker["id"] == "api-w1"
    assert worker["status"] == "running"
    assert worker["concurrency"] == 4
    assert worker["heldTasks"] == 2
    assert worker["stoppedAt"] is None
    assert {"host", "pid", "version", "startedAt", "lastHeartbeatAt"} <= worker.keys()
    release.set()
    await running.stop()


async def test_a_stopped_worker_is_listed_as_stopped(
    conn: Conn, admin: Caller, start_worker: StartWorker
) -> None:
    running = await start_worker(worker_id="api-w2")
    await row_when(conn, "api-w2", lambda r: r["status"] == "running")
    await running.stop()

    [worker] = (await admin.http.get("/api/v1/workers")).json()["workers"]

    assert (worker["id"], worker["status"], worker["heldTasks"]) == ("api-w2", "stopped", 0)
    assert worker["stoppedAt"] is not None


async def test_a_tenant_key_may_not_list_workers(acme: Caller) -> None:
    assert_problem(await acme.http.get("/api/v1/workers"), 403)
