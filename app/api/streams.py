"""Live task events over Server-Sent Events.

One watcher per API process looks a few times a second for tenants with new
events (an index probe; cheaper than a NOTIFY in every transaction of the
engine); each open stream of such a tenant then reads its own new rows once.
Nothing polls the table per client: a quiet stream costs nothing but a
keep-alive comment every 15 seconds.

Known limit: the tenant-wide stream follows event ids, so an event whose
transaction commits after a later-numbered one (two tasks changing at the same
instant) can be skipped by that stream; per-task streams cannot skip (one task's
events are written one transaction after another).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import structlog
from quart import Response, request

from app.api.dependencies import ApiDependencies
from app.api.problems import ProblemError
from app.domain.task import TERMINAL_STATUSES

log = structlog.get_logger("app.api")

KEEP_ALIVE_SECONDS = 15.0
MAX_STREAMS_PER_KEY = 20
PAGE = 1000  # tenant_event_list_after's LIMIT
Listen = Callable[[Callable[[uuid.UUID], None]], Coroutine[Any, Any, None]]


class EventHub:
    """Wakes the open streams of a tenant when its tasks have new events."""

    def __init__(self, listen: Listen) -> None:
        self._listen = listen
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.open_streams: Counter[str] = Counter()
        self.closing = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(self._wake))

    async def stop(self) -> None:
        """End every open stream, then stop listening."""
        self.closing.set()
        for waiters in list(self._waiters.values()):
            for waiter in waiters:
                waiter.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _wake(self, tenant_id: uuid.UUID) -> None:
        for waiter in self._waiters.get(tenant_id, ()):
            waiter.set()

    @contextlib.contextmanager
    def subscribe(self, tenant_id: uuid.UUID, key: str) -> Iterator[asyncio.Event]:
        waiter = asyncio.Event()
        self._waiters[tenant_id].add(waiter)
        self.open_streams[key] += 1
        try:
            yield waiter
        finally:
            self.open_streams[key] -= 1
            self._waiters[tenant_id].discard(waiter)
            if not self._waiters[tenant_id]:
                del self._waiters[tenant_id]


_hub: EventHub | None = None


def install_hub(hub: EventHub | None) -> None:
    global _hub
    _hub = hub


def last_event_id() -> int | None:
    """The id to resume after (Last-Event-ID header or lastEventId query), if given."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("lastEventId")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as error:
        raise ProblemError(400, "Last-Event-ID must be an event id (an integer).") from error
    if value < 0:
        raise ProblemError(400, "Last-Event-ID must not be negative.")
    return value


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
    deps: ApiDependencies, tenant_id: uuid.UUID, key: str, *, task_id: uuid.UUID | None = None
) -> Response:
    """An SSE response of events: one task's (from the start, or after Last-Event-ID,
    ending once the task has finished and everything was sent), or the whole
    tenant's (from now, or after Last-Event-ID)."""
    if _hub is None:
        raise RuntimeError("the event hub is not running")
    hub, queries = _hub, deps.queries
    if hub.open_streams[key] >= MAX_STREAMS_PER_KEY:
        raise ProblemError(
            429,
            f"At most {MAX_STREAMS_PER_KEY} open streams per API key; close one first.",
            slug="too-many-requests",
            headers={"Retry-After": "5"},
        )
    resume_after = last_event_id()
    if resume_after is not None:
        after = resume_after
    elif task_id is not None:
        after = 0
    else:
        after = await queries.tenant_last_event_id(tenant_id)

    async def fetch(after_id: int) -> list[dict[str, Any]]:
        if task_id is not None:
            return await queries.events_after(task_id, after_id)
        return await queries.tenant_events_after(tenant_id, after_id)

    async def finished() -> bool:
        if task_id is None:
            return False
        task = await deps.tasks.get(tenant_id, task_id)
        return task is None or task.status in TERMINAL_STATUSES

    async def generate() -> AsyncIterator[str]:
        nonlocal after
        with hub.subscribe(tenant_id, key) as waiter:
            yield "retry: 2000\n\n"
            while not hub.closing.is_set():
                waiter.clear()
                rows = await fetch(after)
                for row in rows:
                    after = row["id"]
                    yield sse(row)
                if len(rows) >= PAGE:
                    continue
                # Checked after the read: an event written in between wakes us again.
                if await finished() and not await fetch(after):
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
