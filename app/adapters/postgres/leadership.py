"""Leadership by a session-level advisory lock, held on a connection of its own.

The lock lives as long as the session: a leader that dies, or whose host vanishes
(server-side TCP keepalives notice within about 25 s), frees it for the next one.
"""

from __future__ import annotations

import asyncio
from typing import LiteralString

import psycopg

from app.adapters.postgres.queries import query

CONNECT_SECONDS = 5
PING_SECONDS = 5


class AdvisoryLeadership:
    """Compete for one named advisory lock; `try_lead` is cheap to call every round."""

    def __init__(
        self,
        conninfo: str,
        *,
        lock_query: LiteralString,
        application_name: str,
        raise_when_unreachable: bool = False,
    ) -> None:
        # With `raise_when_unreachable`, a database that cannot be reached raises instead
        # of answering "someone else leads", so the caller can tell the two apart.
        self._raise_when_unreachable = raise_when_unreachable
        self._conninfo = conninfo
        self._lock_query = lock_query
        self._application_name = application_name
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    @property
    def leading(self) -> bool:
        return self._conn is not None

    async def try_lead(self) -> bool:
        """True while this process holds the lock (taking it if it is free)."""
        if self._conn is not None:
            try:
                async with asyncio.timeout(PING_SECONDS):
                    await self._conn.execute(query("signals_ping"))
                return True
            except (psycopg.Error, TimeoutError):
                # The session (and with it the lock) is gone: compete again.
                await self.resign()
        try:
            async with asyncio.timeout(CONNECT_SECONDS * 2):
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    application_name=self._application_name,
                    connect_timeout=CONNECT_SECONDS,
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                )
        except (psycopg.Error, TimeoutError):
            if self._raise_when_unreachable:
                raise
            return False
        try:
            await conn.execute(query("maintenance_session_keepalives"))
            cursor = await conn.execute(self._lock_query)
            row = await cursor.fetchone()
        except psycopg.Error:
            await conn.close()
            if self._raise_when_unreachable:
                raise
            return False
        if row and row[0]:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def resign(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
