"""Live task events over Server-Sent Events.

One watcher per API process looks a few times a second for tenants with new
events (an index probe; cheaper than a NOTIFY in every transaction of the
engine); each open stream of such a tenant then reads its own new rows once.
Nothing polls the table per client: a quiet stream costs nothing but a
keep-alive comment every 15 seconds.

A per-task stream follows event ids: one task's events are written one transaction
after another, in id order. The tenant-wide stream cannot: two tasks changing at the
same instant can commit their events out of id order. It follows a StreamCursor
(app/domain/event_cursor.py) instead, whose resume point (the SSE id) never passes an
event that may still commit; after a resume an event may come twice, never not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

import structlog
from quart import Response, request

from app.api.dependencies import ApiDependencies
from app.api.problems import ProblemError
from app.domain.event_cursor import StreamCursor
from app.domain.task import TERMINAL_STATUSES

log = structlog.get_logger("app.api")

KEEP_ALIVE_SECONDS = 15.0
# While events sent are not yet final, a tenant stream looks again this often: an event
# committing late may wake no one (the watcher saw a later id already).
SETTLE_POLL_SECONDS = 0.1
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


def utc_text(when: datetime) -> str:
    """ISO 8601 in UTC ending in Z, as every REST response writes times."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sse(row: dict[str, Any], resume_id: int | None = None) -> str:
    """One event as SSE; `resume_id` is the stream's resume point when it is not the
    event's own id (the tenant stream)."""
    data = {
        "id": row["id"],
        "taskId": str(row["task_id"]),
        "sequence": row["sequence"],
        "eventType": row["event_type"],
        "status": row["status"],
        "occurredAt": utc_text(row["occurred_at"]),
        "traceId": row["trace_id"],
        "detail": row["detail"],
    }
    sse_id = row["id"] if resume_id is None else resume_id
    return f"id: {sse_id}\nevent: {row['event_type']}\ndata: {json.dumps(data)}\n\n"


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

    async def finished() -> bool:
        task = await deps.tasks.get(tenant_id, task_id) if task_id else None
        return task is None or task.status in TERMINAL_STATUSES

    ended = False

    async def task_events() -> AsyncIterator[str]:
        nonlocal after, ended
        assert task_id is not None
        while True:
            rows = await queries.events_after(task_id, after)
            for row in rows:
                after = row["id"]
                yield sse(row)
            if len(rows) < PAGE:
                break
        # Checked after the read: an event written in between is read next time.
        ended = await finished() and not await queries.events_after(task_id, after)

    cursor = StreamCursor(final=after)

    async def tenant_events() -> AsyncIterator[str]:
        while True:
            rows = await queries.tenant_events_after(tenant_id, cursor.final)
            events = {row["id"]: row for row in rows if row["id"] is not None}
            new = cursor.take(
                list(events),
                snapshot_xmin=rows[0]["snapshot_xmin"],
                snapshot_xmax=rows[0]["snapshot_xmax"],
                page_full=len(events) >= PAGE,
            )
            for event_id in new:
                yield sse(events[event_id], resume_id=cursor.final)
            if len(events) < PAGE:
                break

    async def generate() -> AsyncIterator[str]:
        with hub.subscribe(tenant_id, key) as waiter:
            yield "retry: 2000\n\n"
            quiet_since = time.monotonic()
            while not hub.closing.is_set():
                waiter.clear()
                async for chunk in task_events() if task_id else tenant_events():
                    quiet_since = time.monotonic()
                    yield chunk
                if ended:
                    return
                wait = SETTLE_POLL_SECONDS if cursor.settling else KEEP_ALIVE_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), wait)
                if time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"

    response = Response(
        generate(),
        status=200,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        content_type="text/event-stream",
    )
    response.timeout = None  # a stream lasts as long as the client stays
    return response
