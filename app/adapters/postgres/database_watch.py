"""Whether the database answers: one log line when it stops, one when it is back.

Every long-running process keeps one `DatabaseWatch` on its pool. The pool itself
replaces dead connections (it checks each one it hands out); the watch only says
what is going on, once per change, never once per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from app.adapters.postgres.queries import query

log = structlog.get_logger("app.database")

PROBE_TIMEOUT_SECONDS = 2.0


class DatabaseWatch:
    """Probes the database through the pool; logs `database_unreachable` and
    `database_reconnected` once each per outage."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        conninfo: str,
        *,
        every: float = 1.0,
        first_retry: float = 0.5,
        max_retry: float = 5.0,
    ) -> None:
        self._pool = pool
        self._conninfo = conninfo
        self._every = every
        self._first_retry = first_retry
        self._max_retry = max_retry
        self.reachable: bool | None = None
        self._down_since = 0.0

    async def probe(self) -> str | None:
        """None when the database answers, else the type of the error that says why."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS * 2):
                async with self._pool.connection(timeout=PROBE_TIMEOUT_SECONDS) as conn:
                    await conn.execute(query("signals_ping"))
            return None
        except PoolTimeout:
            # The pool only says it waited: ask the server directly for the reason.
            return await self._direct_error() or "PoolTimeout"
        except (psycopg.Error, TimeoutError, OSError) as error:
            return type(error).__name__

    async def _direct_error(self) -> str | None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS * 2):
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, connect_timeout=int(PROBE_TIMEOUT_SECONDS)
                )
            await conn.close()
            return None
        except (psycopg.Error, TimeoutError, OSError) as error:
            return type(error).__name__

    async def wait_until_reachable(self, stop: asyncio.Event) -> bool:
        """Retry with backoff until the database answers (True) or `stop` is set (False)."""
        retry = self._first_retry
        while not stop.is_set():
            error = await self.probe()
            self._note(error, retry)
            if error is None:
                return True
            await _sleep(stop, retry)
            retry = min(retry * 2, self._max_retry)
        return False

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Probe every `every` seconds (backing off while the database is away) until
        `stop` is set or the task is cancelled."""
        stop = stop or asyncio.Event()
        retry = self._first_retry
        while not stop.is_set():
            error = await self.probe()
            self._note(error, retry)
            if error is None:
                retry = self._first_retry
                await _sleep(stop, self._every)
            else:
                await _sleep(stop, retry)
                retry = min(retry * 2, self._max_retry)

    def _note(self, error: str | None, retry: float) -> None:
        if error is not None and self.reachable is not False:
            self._down_since = time.monotonic()
            log.warning(
                "database_unreachable", pool=self._pool.name, error_type=error, retry_in=retry
            )
        elif error is None and self.reachable is False:
            down = round(time.monotonic() - self._down_since, 1)
            log.info("database_reconnected", pool=self._pool.name, down_seconds=down)
        self.reachable = error is None


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
