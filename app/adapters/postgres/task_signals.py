"""PgTaskSignals: LISTEN for work and cancel requests, and watch for new task events,
on connections of their own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import structlog

from app.adapters.postgres.queries import query
from app.domain.event_cursor import StreamCursor

log = structlog.get_logger("app.signals")

WORK_CHANNEL = "assistente_tasks"
CANCEL_CHANNEL = "assistente_cancel"
# How often the API looks for new task events for its live streams. Polling one index
# a few times a second is cheaper than a NOTIFY in every state-changing transaction.
EVENTS_POLL_SECONDS = 0.25
# How far behind the newest event the watcher reads again while a transaction that
# may still commit events is open (each poll reads at most this many events).
LOOKBACK_IDS = 5000


class PgTaskSignals:
    """TaskSignals over LISTEN/NOTIFY; reconnects after a lost connection."""

    def __init__(
        self,
        conninfo: str,
        *,
        reconnect_max_seconds: float = 5.0,
        events_poll_seconds: float = EVENTS_POLL_SECONDS,
    ) -> None:
        self._conninfo = conninfo
        self._reconnect_max = reconnect_max_seconds
        self._events_poll = events_poll_seconds

    async def listen(
        self, on_work: Callable[[], None], on_cancel: Callable[[uuid.UUID], None]
    ) -> None:
        """Worker signals: new work (payload ignored) and cancel requests (a task id)."""
        await self._listen(
            ["signals_listen_work", "signals_listen_cancel"],
            {WORK_CHANNEL: lambda _: on_work(), CANCEL_CHANNEL: _uuid_payload(on_cancel)},
            on_connect=on_work,  # anything sent while we were away would be lost: look now
        )

    async def listen_events(
        self,
        on_tenant: Callable[[uuid.UUID], None],
        on_task: Callable[[uuid.UUID, str], None] | None = None,
    ) -> None:
        """API signals: a tenant has new task events, and so has each task (with the
        status its newest event left it in); seen within a poll interval."""
        delay = 0.1
        after: int | None = None
        # Event ids are handed out before their transactions commit: an event can commit
        # after a later-numbered one was read. The watcher reads again from the id below
        # which every transaction has ended (a StreamCursor), so it misses none of them.
        seen = StreamCursor(final=0)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, application_name="assistente-events"
                ) as conn:
                    if after is None:
                        cursor = await conn.execute(query("events_last_id"))
                        after = (await cursor.fetchone() or (0,))[0]
                        seen = StreamCursor(final=after)
                    delay = 0.1
                    while True:
                        cursor = await conn.execute(
                            query("events_tasks_after"), {"after": seen.final}
                        )
                        _wake(seen, await cursor.fetchall(), on_tenant, on_task)
                        await asyncio.sleep(self._events_poll)
            except psycopg.Error as error:
                if delay == 0.1:  # one line per outage, not one per retry
                    log.warning(
                        "event_watch_reconnecting",
                        error_type=type(error).__name__,
                        in_seconds=delay,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)

    async def _listen(
        self,
        statements: list[str],
        handlers: dict[str, Callable[[str], None]],
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, application_name="assistente-listener"
                ) as conn:
                    for name in statements:
                        await conn.execute(query(name))
                    delay = 0.1
                    if on_connect is not None:
                        on_connect()
                    async for notify in conn.notifies():
                        handler = handlers.get(notify.channel)
                        if handler is not None:
                            handler(notify.payload)
            except psycopg.Error as error:
                if delay == 0.1:  # one line per outage, not one per retry
                    log.warning(
                        "listener_reconnecting", error_type=type(error).__name__, in_seconds=delay
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)


def _wake(
    seen: StreamCursor,
    rows: list[tuple[Any, ...]],
    on_tenant: Callable[[uuid.UUID], None],
    on_task: Callable[[uuid.UUID, str], None] | None,
) -> None:
    """Report each task (and tenant) of `rows` whose newest event was not reported yet."""
    ids = [row[2] for row in rows if row[2] is not None]
    new = set(seen.take(ids, snapshot_xmin=rows[0][4], snapshot_xmax=rows[0][5], page_full=False))
    if ids and ids[-1] - seen.final > LOOKBACK_IDS:
        # A long transaction holds the horizon back: stop reading again what it may
        # still commit below this far behind the newest event (it would be missed).
        seen.final = ids[-1] - LOOKBACK_IDS
    tenants: set[uuid.UUID] = set()
    for tenant_id, task_id, last_id, status, _, _ in rows:
        if last_id in new:
            tenants.add(tenant_id)
            if on_task is not None:
                on_task(task_id, status)
    for tenant_id in tenants:
        on_tenant(tenant_id)


def _uuid_payload(callback: Callable[[uuid.UUID], None]) -> Callable[[str], None]:
    def handle(payload: str) -> None:
        try:
            value = uuid.UUID(payload)
        except ValueError:
            log.warning("bad_signal_payload")
            return
        callback(value)

    return handle
