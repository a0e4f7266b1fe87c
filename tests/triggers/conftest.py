"""Fixtures for trigger tests: the real API under Hypercorn with two tenants, the engine
fixtures (workers, services), and helpers that speak to /api/v1/triggers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg

from tests.api.conftest import Caller
from tests.batches.http import acme, base_url, globex  # noqa: F401 (fixtures)
from tests.workers.conftest import services, start_worker, tenant  # noqa: F401 (fixtures)

Conn = psycopg.AsyncConnection[Any]

OCR_TO_SUMMARIZE: dict[str, Any] = {
    "name": "summarize-after-ocr",
    "on": {"eventTypes": ["TaskSucceeded"], "taskTypes": ["ocr"]},
    "task": {
        "type": "summarize",
        "payload": {
            "text": {"$from": "result.text"},
            "ocrTask": {"$from": "event.taskId"},
            "document": {"$from": "task.payload.documentId"},
        },
    },
}


async def new_trigger(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """POST a trigger; it must be created."""
    response = await caller.http.post("/api/v1/triggers", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def post_task(caller: Caller, task_type: str, **fields: Any) -> dict[str, Any]:
    response = await caller.http.post("/api/v1/tasks", json={"type": task_type, **fields})
    assert response.status_code in (200, 201, 202), response.text
    task: dict[str, Any] = response.json()
    return task


async def tasks_of_type(conn: Conn, task_type: str) -> list[dict[str, Any]]:
    """Every task of `task_type`, oldest first: id, status, payload, depth."""
    cursor = await conn.execute(
        "SELECT id, status::text, payload, trigger_depth, tenant_id FROM tasks"
        " WHERE type = %s ORDER BY created_at, trigger_depth NULLS FIRST",
        (task_type,),
    )
    keys = ("id", "status", "payload", "depth", "tenant_id")
    return [dict(zip(keys, row, strict=True)) for row in await cursor.fetchall()]


async def wait_until(probe: Any, *, within: float = 30.0, what: str = "the condition") -> Any:
    """Poll the async `probe` until it returns something truthy; that value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {within}s (last: {value!r})")
        await asyncio.sleep(0.05)


def problem_fields(response: httpx.Response) -> list[str]:
    """The fields a 422 problem names."""
    return [e["field"] for e in response.json().get("errors", [])]
