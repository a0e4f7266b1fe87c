"""Fixtures for the worker registry: the worker fixtures of tests/workers, and the API's."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.api.conftest import acme, admin, api_overrides, base_url
from tests.workers.conftest import enqueue, services, start_worker, tenant

__all__ = [
    "acme",
    "admin",
    "api_overrides",
    "base_url",
    "enqueue",
    "services",
    "start_worker",
    "tenant",
]

Conn = psycopg.AsyncConnection[Any]


async def worker_row(conn: Conn, worker_id: str) -> dict[str, Any] | None:
    """The worker's row in worker_activity, by column name."""
    cursor = await conn.execute("SELECT * FROM worker_activity WHERE id = %s", (worker_id,))
    row = await cursor.fetchone()
    if row is None:
        return None
    assert cursor.description is not None
    return {column.name: value for column, value in zip(cursor.description, row, strict=True)}
