"""Helpers for saga tests over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.batches.http import Caller

FAST_RETRY = {"baseSeconds": 0.01, "maxSeconds": 0.01}


async def wait_saga(caller: Caller, saga_id: str, statuses: set[str]) -> dict[str, Any]:
    """Poll GET /sagas/{id} until its status is one of `statuses`."""
    body: dict[str, Any] = {}
    for _ in range(400):
        body = (await caller.http.get(f"/api/v1/sagas/{saga_id}")).json()
        if body.get("status") in statuses:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"saga {saga_id} never reached {statuses}: {body}")


def step(task_type: str, undo: str | None = "demo.noop", **fields: Any) -> dict[str, Any]:
    """A step of `task_type`, compensated by `undo` (None: no compensation)."""
    spec: dict[str, Any] = {"type": task_type, **fields}
    if undo is not None:
        spec["compensation"] = {"type": undo, "retryPolicy": FAST_RETRY}
    return spec


def events(saga: dict[str, Any]) -> list[str]:
    """The saga's own events, in order."""
    return [e["eventType"] for e in saga["timeline"] if e["taskId"] == saga["id"]]


def compensation_run_order(saga: dict[str, Any]) -> list[int]:
    """The steps whose compensations ran, in the order they were queued."""
    ran = [s for s in saga["steps"] if s["compensationOrder"] is not None]
    return [s["position"] for s in sorted(ran, key=lambda s: s["compensationOrder"])]
