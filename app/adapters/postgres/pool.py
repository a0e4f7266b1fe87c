"""The psycopg connection pool: created closed, opened at startup, closed at shutdown."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


def create_pool(conninfo: str, *, min_size: int, max_size: int, name: str) -> AsyncConnectionPool:
    """A pool that connects nothing until `open_pool` (no I/O at construction)."""
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        # Each session says who it is in pg_stat_activity.
        kwargs={"application_name": f"assistente-{name}"},
    )


async def open_pool(
    pool: AsyncConnectionPool, *, wait: bool = True, wait_seconds: float = 30.0
) -> None:
    """Open the pool; with `wait`, until its minimum connections are up (or fail).

    Without `wait` the pool keeps connecting in the background, so a process
    that must answer while the database is down (the API's /health) can start.
    """
    await pool.open(wait=wait, timeout=wait_seconds)
