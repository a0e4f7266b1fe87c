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
import weakref
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from quart import Response, request

from app.api.dependencies import ApiDependencies
from app.api.problems import ProblemError
from app.application.waiting import TaskWatches
from app.domain.event_cursor import StreamCursor
from app.domain.inflight import InFlight
from app.domain.task import TERMINAL_STATUSES

log = structlog.get_logger("app.api")

KEEP_ALIVE_SECONDS = 15.0
# While events sent are not yet final, a tenant stream looks again this often: an event
# committing late may wake no one (the watcher saw a later id already).
SETTLE_POLL_SECONDS = 0.1
PAGE = 1000  # tenant_event_list_after's LIMIT
# The change watcher: called with what to do for a tenant with new events, and for each
# task with new events (its id and the status its newest event left it in).
Listen = Callable[
    [Callable[[uuid.UUID], None], Callable[[uuid.UUID, str], None]], Coroutine[Any, Any, None]
]


@dataclass(frozen=True, slots=True)
class StreamCaps:
    """Open streams allowed per API key, per tenant and per API process."""

    per_key: int = 20
    per_tenant: int = 50
    per_process: int = 500


class StreamSlot:
    """One open stream's place under the caps; released once, however the stream ends."""

    def __init__(self, hub: EventHub, tenant: str, key: str) -> None:
        self._hub, self._tenant, self._key = hub, tenant, key
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._hub._release(self._tenant, self._key)


LISTENER_STOP_SECONDS = 2.0


class EventHub:
    """Wakes the open streams of a tenant when its tasks have new events, and counts
    them under StreamCaps; wakes the requests waiting for a task (`tasks`) when that
    task has new events."""

    def __init__(self, listen: Listen, caps: StreamCaps | None = None) -> None:
        self._listen = listen
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.caps = caps or StreamCaps()
        self._by_key = InFlight(self.caps.per_key)
        self._by_tenant = InFlight(self.caps.per_tenant)
        self._in_all = InFlight(self.caps.per_process)
        self.closing = asyncio.Event()
        self.tasks = TaskWatches()

    @property
    def open_streams(self) -> int:
        """Streams open in this process."""
        return self._in_all.total

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(self._wake, self.tasks.wake))

    def begin_closing(self) -> None:
        """End every open stream and answer every waiting request now (a server that
        stops taking requests calls this before it waits for those in progress, so
        none of them is cut at its graceful timeout)."""
        self.closing.set()
        for waiters in list(self._waiters.values()):
            for waiter in waiters:
                waiter.set()
        self.tasks.wake_all()

    async def stop(self) -> None:
        """End every open stream and wait, then stop listening."""
        self.begin_closing()
        if self._task is not None:
            self._task.cancel()
            # A listener cancelled mid-query may wait on the server to cancel it; the
            # process stops anyway (its connection closes with it).
            done, _ = await asyncio.wait({self._task}, timeout=LISTENER_STOP_SECONDS)
            if not done:
                log.warning("event_listener_slow_to_stop", seconds=LISTENER_STOP_SECONDS)
            elif not self._task.cancelled():
                with contextlib.suppress(Exception):
                    self._task.result()

    def _wake(self, tenant_id: uuid.UUID) -> None:
        for waiter in self._waiters.get(tenant_id, ()):
            waiter.set()

    def reserve(self, tenant_id: uuid.UUID, key: str) -> StreamSlot:
        """A place for one more stream, or a 429 problem past any cap.

        Synchronous on purpose: the check and the count happen with no await between,
        so streams opened at the same instant cannot all pass the check.
        """
        tenant = str(tenant_id)
        if self._by_key.full(key):
            raise _too_many_streams(f"At most {self.caps.per_key} open streams per API key")
        if self._by_tenant.full(tenant):
            raise _too_many_streams(f"At most {self.caps.per_tenant} open streams per tenant")
        if self._in_all.full(""):
            raise _too_many_streams("This server holds as many open streams as it takes")
        self._by_key.try_acquire(key)
        self._by_tenant.try_acquire(tenant)
        self._in_all.try_acquire("")
        return StreamSlot(self, tenant, key)

    def _release(self, tenant: str, key: str) -> None:
        self._by_key.release(key)
        self._by_tenant.release(tenant)
        self._in_all.release("")

    @contextlib.contextmanager
    def subscribe(self, tenant_id: uuid.UUID) -> Iterator[asyncio.Event]:
        waiter = asyncio.Event()
        self._waiters[tenant_id].add(waiter)
        try:
            yield waiter
        finally:
            self._waiters[tenant_id].discard(waiter)
            if not self._waiters[tenant_id]:
                del self._waiters[tenant_id]


def _too_many_streams(reason: str) -> ProblemError:
    return ProblemError(
        429,
        f"{reason}; close one first.",
        slug="too-many-requests",
        headers={"Retry-After": "5"},
    )


class SlotStream:
    """A stream's body that gives its slot back when it ends, when it is closed before
    it began, or when it is dropped unsent (an async generator that never started
    runs no `finally`)."""

    def __init__(self, body: AsyncGenerator[str, None], slot: StreamSlot) -> None:
        self._body = body
        self._slot = slot
        weakref.finalize(self, slot.release)

    def __aiter__(self) -> SlotStream:
        return self

    async def __anext__(self) -> str:
        try:
            return await self._body.__anext__()
        except BaseException:
            self._slot.release()
            raise

    async def aclose(self) -> None:
        try:
            await self._body.aclose()
        finally:
            self._slot.release()


_hub: EventHub | None = None


def install_hub(hub: EventHub | None) -> None:
    global _hub
    _hub = hub


def current_hub() -> EventHub | None:
    """The running hub of this process (None when the app runs without one)."""
    return _hub


MAX_EVENT_ID = 2**63 - 1  # Postgres bigint
MAX_EVENT_ID_DIGITS = 18


def last_event_id() -> int | None:
    """The id to resume after (Last-Event-ID header or lastEventId query), if given."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("lastEventId")
    if raw is None:
        return None
    # Digits only: int() would also take "+5", " 5" and "5_0". 18 digits fit a bigint.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_EVENT_ID_DIGITS):
        raise ProblemError(
            400, f"Last-Event-ID must be an event id: 1 to {MAX_EVENT_ID_DIGITS} digits 0-9."
        )
    return int(raw)


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
    hub = _hub
    resume_after = last_event_id()
    # Counted before the first await below: a burst of opens cannot all pass the caps.
    slot = hub.reserve(tenant_id, key)
    try:
        return await _open_stream(hub, slot, deps, tenant_id, resume_after, task_id)
    except BaseException:
        slot.release()
        raise


async def _open_stream(
    hub: EventHub,
    slot: StreamSlot,
    deps: ApiDependencies,
    tenant_id: uuid.UUID,
    resume_after: int | None,
    task_id: uuid.UUID | None,
) -> Response:
    queries = deps.queries
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

    async def generate() -> AsyncGenerator[str, None]:
        with hub.subscribe(tenant_id) as waiter:
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
        SlotStream(generate(), slot),
        status=200,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        content_type="text/event-stream",
    )
    response.timeout = None  # a stream lasts as long as the client stays
    return response
