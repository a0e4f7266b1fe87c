"""The psycopg connection pool: created closed, opened at startup, closed at shutdown."""

from __future__ import annotations

import logging
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.queries import query


def create_pool(
    conninfo: str,
    *,
    min_size: int,
    max_size: int,
    name: str,
    queue_worker: bool = False,
    wait_seconds: float = 5.0,
) -> AsyncConnectionPool:
    """A pool that connects nothing until `open_pool` (no I/O at construction).

    `queue_worker` sessions plan the claim on its partial index even while the
    table's statistics still describe it as empty (a backlog that arrived in a burst):
    a bitmap scan and sort of the whole backlog would make every claim slow.
    """
    # The pool warns once per failed reconnect attempt; DatabaseWatch says it once.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        # How long a caller waits for a connection before giving up (an API request
        # then answers 503 instead of hanging while the database is away).
        timeout=wait_seconds,
        # Each session says who it is in pg_stat_activity.
        # Timestamps leave the database in UTC, whatever the server's own time zone.
        # Autocommit: every query here is one atomic statement, so an implicit
        # BEGIN and COMMIT would only add two round trips to each; code that needs
        # several statements at once opens `conn.transaction()`.
        kwargs={
            "application_name": f"assistente-{name}",
            "options": "-c TimeZone=UTC",
            "autocommit": True,
        },
        configure=_prefer_index_scans if queue_worker else None,
        # A connection that died while idle (a restarted or failed-over server) is
        # replaced before a caller gets it, instead of costing that caller an error.
        check=AsyncConnectionPool.check_connection,
    )


async def _prefer_index_scans(conn: AsyncConnection[Any]) -> None:
    await conn.execute(query("session_prefer_index_scans"))
    await conn.commit()


async def open_pool(
    pool: AsyncConnectionPool, *, wait: bool = True, wait_seconds: float = 30.0
) -> None:
    """Open the pool; with `wait`, until its minimum connections are up (or fail).

    Without `wait` the pool keeps connecting in the background, so a process
    that must answer while the database is down (the API's /health) can start.
    """
    await pool.open(wait=wait, timeout=wait_seconds)
