"""Helpers for signal tests over real HTTP: handlers that wait, and polls with deadlines."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from tests.api.conftest import Caller

Conn = psycopg.AsyncConnection[Any]


def signal_handlers() -> HandlerRegistry:
    """`await_signal` waits (while running) for payload's (name, key) and returns the
    signal's data; `after_signal` runs once the signal it was created to wait for came."""
    registry = HandlerRegistry()

    @registry.handler("await_signal")
    async def await_signal(ctx: TaskContext) -> dict[str, Any]:
        payload = ctx.payload
        signal = ctx.wait_for_signal(payload["name"], payload["key"], timeout=600)
        assert signal is not None
        return {"data": signal.data, "signalId": signal.id}

    @registry.handler("after_signal")
    async def after_signal(ctx: TaskContext) -> dict[str, Any]:
        signal = ctx.signal
        assert signal is not None
        return {"data": signal.data, "signalId": signal.id}

    return registry


def waiting_task(name: str, key: str) -> dict[str, Any]:
    """A POST /api/v1/tasks body whose handler waits for the signal (name, key)."""
    return {"type": "await_signal", "payload": {"name": name, "key": key}}


async def post_task(caller: Caller, body: dict[str, Any]) -> str:
    response = await caller.http.post("/api/v1/tasks", json=body)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


async def wait_task(
    caller: Caller, task_id: str, statuses: set[str], *, within: float = 15.0
) -> dict[str, Any]:
    """Poll GET /tasks/{id} until its status is one of `statuses`; the task."""
    deadline = asyncio.get_running_loop().time() + within
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        body = (await caller.http.get(f"/api/v1/tasks/{task_id}")).json()
        if body.get("status") in statuses:
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"task {task_id} never reached {statuses}: {body.get('status')}")


async def wait_parked(conn: Conn, task_id: str, *, within: float = 15.0) -> tuple[str, str]:
    """Poll until the task is parked waiting for a signal; its (name, key)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        cursor = await conn.execute(
            "SELECT w.signal_name, w.signal_key FROM task_waits w JOIN tasks t"
            " ON t.id = w.task_id WHERE w.task_id = %s AND t.status = 'Created'",
            (uuid.UUID(task_id),),
        )
        row = await cursor.fetchone()
        if row is not None:
            return row[0], row[1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"task {task_id} was never parked")


async def signal_events(conn: Conn, task_id: str) -> list[str]:
    """The task's wait-related events, in order."""
    cursor = await conn.execute(
        "SELECT event_type FROM task_events WHERE task_id = %s"
        " AND event_type IN ('TaskAwaitingSignal', 'TaskSignalled', 'TaskSucceeded')"
        " ORDER BY sequence",
        (uuid.UUID(task_id),),
    )
    return [row[0] for row in await cursor.fetchall()]
