"""PgTaskSignals: LISTEN for new work and cancel requests on a connection of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import psycopg
import structlog

from app.adapters.postgres.queries import query

log = structlog.get_logger("app.signals")

WORK_CHANNEL = "assistente_tasks"
CANCEL_CHANNEL = "assistente_cancel"


class PgTaskSignals:
    """TaskSignals over LISTEN/NOTIFY; reconnects after a lost connection."""

    def __init__(self, conninfo: str, *, reconnect_max_seconds: float = 5.0) -> None:
        self._conninfo = conninfo
        self._reconnect_max = reconnect_max_seconds

    async def listen(
        self, on_work: Callable[[], None], on_cancel: Callable[[uuid.UUID], None]
    ) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, application_name="assistente-listener"
                ) as conn:
                    await conn.execute(query("signals_listen_work"))
                    await conn.execute(query("signals_listen_cancel"))
                    delay = 0.1
                    # Anything sent while we were not listening would be lost: look now.
                    on_work()
                    async for notify in conn.notifies():
                        if notify.channel == WORK_CHANNEL:
                            on_work()
                        elif notify.channel == CANCEL_CHANNEL:
                            try:
                                on_cancel(uuid.UUID(notify.payload))
                            except ValueError:
                                log.warning("bad_cancel_signal")
            except psycopg.Error as error:
                log.warning(
                    "listener_reconnecting", error_type=type(error).__name__, in_seconds=delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._reconnect_max)
