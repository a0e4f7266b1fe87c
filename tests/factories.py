"""Test factories: insert rows with explicit overrides, nothing hidden."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from app.application.context import TaskContext

AnyConn = psycopg.AsyncConnection[Any]


async def insert_tenant(conn: AnyConn, name: str | None = None) -> uuid.UUID:
    row = await (
        await conn.execute(
            "INSERT INTO tenants (name) VALUES (%s) RETURNING id",
            (name or f"tenant-{uuid.uuid4().hex[:8]}",),
        )
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


async def insert_task(conn: AnyConn, tenant_id: uuid.UUID, **overrides: Any) -> uuid.UUID:
    """Insert a task; `overrides` are column values (`payload` given as a dict)."""
    values: dict[str, Any] = {"tenant_id": tenant_id, "type": "demo.noop", **overrides}
    for key in ("payload", "metadata", "retry_policy"):
        if isinstance(values.get(key), dict):
            values[key] = Jsonb(values[key])
    statement = sql.SQL("INSERT INTO tasks ({}) VALUES ({}) RETURNING id").format(
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(map(sql.Placeholder, values)),
    )
    row = await (await conn.execute(statement, values)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def leased(worker: str = "worker-1", seconds: int = 30, attempt_id: int = 1) -> dict[str, Any]:
    """Column values for a task that holds a lease."""
    return {
        "status": "Running",
        "locked_by": worker,
        "locked_until": datetime.now(UTC) + timedelta(seconds=seconds),
        "attempt_id": attempt_id,
        "attempt_count": 1,
    }


def bare_context(payload: Mapping[str, Any] | None = None, **overrides: Any) -> TaskContext:
    """A TaskContext with no lease store, for code that reads the payload and counts
    usage or progress but writes nothing."""
    fields: dict[str, Any] = {
        "task_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "task_type": "t",
        "payload": payload or {},
        "attempt": 1,
        "max_attempts": 3,
        "attempt_id": 7,
        "trace_id": None,
        "correlation_id": None,
        "store": None,
        **overrides,
    }
    return TaskContext(**fields)
