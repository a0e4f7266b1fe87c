"""Helpers for tests of waiting tasks over HTTP, and handlers that wait."""

from __future__ import annotations

import asyncio
from typing import Any

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from tests.batches.http import Caller

SCHEMA = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": {"type": "integer", "minimum": 1}},
}


def approval(question: str = "Ship order 7?", **fields: Any) -> dict[str, Any]:
    """A HumanInLoop task of type `gated` with an approval block."""
    return {
        "type": "gated",
        "executionType": "HumanInLoop",
        "approval": {"question": question, **fields},
    }


def waiting_registry(runs: list[str] | None = None) -> HandlerRegistry:
    """`gated` reports the approval it was released by; `refund` asks a person mid-run."""
    registry = HandlerRegistry()

    @registry.handler("gated")
    async def gated(ctx: TaskContext) -> dict[str, Any]:
        if runs is not None:
            runs.append("gated")
        decision = ctx.approval
        assert decision is not None
        return {
            "decision": decision.decision,
            "input": decision.input,
            "by": decision.decided_by,
        }

    @registry.handler("refund")
    async def refund(ctx: TaskContext) -> dict[str, Any]:
        if runs is not None:
            runs.append("refund")
        decision = ctx.request_input("How much to refund?", schema=SCHEMA, timeout=600)
        return {"approved": decision.approved, "input": decision.input, "by": decision.decided_by}

    return registry


async def wait_task(
    caller: Caller, task_id: str, statuses: set[str], *, parked: bool = False
) -> dict[str, Any]:
    """Poll GET /tasks/{id} until its status is one of `statuses` (and, with `parked`,
    until it shows what it waits for)."""
    body: dict[str, Any] = {}
    for _ in range(400):
        body = (await caller.http.get(f"/api/v1/tasks/{task_id}")).json()
        if body.get("status") in statuses and (not parked or body.get("waitingFor")):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {statuses}: {body}")


async def timeline(caller: Caller, task_id: str) -> list[dict[str, Any]]:
    """The task's events (GET /tasks/{id}/events), oldest first."""
    response = await caller.http.get(f"/api/v1/tasks/{task_id}/events")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventType"] for e in events if e["eventType"] != "TaskProgressed"]
