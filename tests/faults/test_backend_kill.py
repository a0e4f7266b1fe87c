"""A failover kills every session of the service: the next requests must not pay for it."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.api.conftest import api_overrides, base_url, new_caller

__all__ = ["api_overrides", "base_url"]  # the real API under Hypercorn (tests/api)

REQUESTS = 30


async def test_no_request_fails_after_every_backend_of_the_database_is_killed(
    database_url: str, base_url: str, conn: psycopg.AsyncConnection[Any]
) -> None:
    caller = await new_caller(database_url, base_url, "failover")
    created = await caller.http.post("/api/v1/tasks", json={"type": "demo.noop"})
    task = created.json()["id"]
    for _ in range(10):  # the pool now holds idle connections
        assert (await caller.http.get(f"/api/v1/tasks/{task}")).status_code == 200
    cursor = await conn.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    killed = await cursor.fetchone()
    assert killed is not None and killed[0] >= 1
    statuses = [
        (await caller.http.get(f"/api/v1/tasks/{task}")).status_code for _ in range(REQUESTS)
    ]
    await caller.http.aclose()
    assert statuses == [200] * REQUESTS
