"""Live task events over Server-Sent Events, fed by LISTEN/NOTIFY.

One listener per API process hears which tenants have new events; each open
stream then reads its own new rows once. Nothing polls the table per client:
a quiet stream costs nothing but a keep-alive comment every 15 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import structlog
from quart import Response, request

from app.application.ports import TaskQueries
from app.domain.task import TERMINAL_STATUSES

log = structlog.get_logger("app.api")

KEEP_ALIVE_SECONDS = 15.0
Listen = Callable[[Callable[[uuid.UUID], None]], Coroutine[Any, Any, None]]


class EventHub:
    """Wakes the open streams of a tenant when its tasks have new events."""

    def __init__(self, listen: Listen) -> None:
        self._listen = listen
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(self._wake))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _wake(self, tenant_id: uuid.UUID) -> None:
        for waiter in self._waiters.get(tenant_id, ()):
            waiter.set()

    @contextlib.contextmanager
    def subscribe(self, tenant_id: uuid.UUID) -> Any:
        waiter = asyncio.Event()
        self._waiters[tenant_id].add(waiter)
        try:
            yield waiter
        finally:
            self._waiters[tenant_id].discard(waiter)
            if not self._waiters[tenant_id]:
                del self._waiters[tenant_id]


_hub: EventHub | None = None


def install_hub(hub: EventHub | None) -> None:
    global _hub
    _hub = hub


def last_event_id() -> int:
    raw = request.headers.get("Last-Event-ID") or request.args.get("lastEventId") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


def sse(row: dict[str, Any]) -> str:
    data = {
        "id": row["id"],
        "taskId": str(row["task_id"]),
        "sequence": row["sequence"],
        "eventType": row["event_type"],
        "status": row["status"],
        "occurredAt": row["occurred_at"].isoformat(),
        "traceId": row["trace_id"],
        "detail": row["detail"],
    }
    return f"id: {row['id']}\nevent: {row['event_type']}\ndata: {json.dumps(data)}\n\n"


async def event_stream(
    queries: TaskQueries, tenant_id: uuid.UUID, *, task_id: uuid.UUID | None = None
) -> Response:
    """An SSE response of new events (one task's, or the whole tenant's), resumable
    with Last-Event-ID. A task's stream ends after the task finishes."""
    if _hub is None:
        raise RuntimeError("the event hub is not running")
    hub, after = _hub, last_event_id()

    async def fetch(after_id: int) -> list[dict[str, Any]]:
        if task_id is not None:
            return await queries.events_after(task_id, after_id)
        return await queries.tenant_events_after(tenant_id, after_id)

    async def generate() -> AsyncIterator[str]:
        nonlocal after
        with hub.subscribe(tenant_id) as waiter:
            yield "retry: 2000\n\n"
            while True:
                waiter.clear()
                for row in await fetch(after):
                    after = row["id"]
                    yield sse(row)
                    if task_id is not None and row["status"] in TERMINAL_STATUSES:
                        return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), KEEP_ALIVE_SECONDS)
                    continue
                yield ": keep-alive\n\n"

    response = Response(
        generate(),
        status=200,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        content_type="text/event-stream",
    )
    response.timeout = None  # a stream lasts as long as the client stays
    return response
