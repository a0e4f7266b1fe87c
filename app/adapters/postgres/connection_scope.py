"""A store that works over a pool, or over one connection (a caller's own transaction)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


class ConnectionScope:
    """Calls take a pooled connection each, or all use `conn` when one is given."""

    def __init__(
        self, pool: AsyncConnectionPool | None, conn: AsyncConnection[Any] | None = None
    ) -> None:
        self._pool = pool
        self._conn = conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Self]:
        """Calls in one transaction; on a caller's connection, a savepoint in theirs."""
        async with self._connection() as conn, conn.transaction():
            yield type(self)(self._pool, conn)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if self._conn is not None:
            yield self._conn
            return
        assert self._pool is not None
        async with self._pool.connection() as conn:
            yield conn
