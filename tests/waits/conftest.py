"""Fixtures for tests of tasks that wait: the engine fixtures, and SQL-level answers."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.workers.conftest import (  # noqa: F401 (fixtures)
    enqueue,
    services,
    start_worker,
    tenant,
)

Conn = psycopg.AsyncConnection[Any]


async def decide(
    conn: Conn,
    tenant_id: uuid.UUID,
    task_id: uuid.UUID,
    decision: str = "approve",
    *,
    input: Any = None,
    decided_by: str | None = "ana",
) -> tuple[Any, ...]:
    """A person's decision, as the database takes it: (outcome, status, parent, kind)."""
    cursor = await conn.execute(
        "SELECT outcome, status::text, parent_id, wait_kind"
        " FROM task_decide(%s, %s, %s, NULL, %s, NULL, %s)",
        (tenant_id, task_id, decision, Jsonb(input) if input is not None else None, decided_by),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def send_signal(
    conn: Conn, tenant_id: uuid.UUID, name: str, key: str, data: Any, *, retention: float = 3600
) -> tuple[Any, ...]:
    """A signal, as the database takes it: (created, resumed)."""
    cursor = await conn.execute(
        "SELECT created, resumed FROM signal_send(%s, %s, %s, %s, %s, 'h', %s)",
        (tenant_id, uuid.uuid4(), name, key, Jsonb(data), retention),
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def wait_row(conn: Conn, task_id: uuid.UUID) -> tuple[Any, ...] | None:
    cursor = await conn.execute(
        "SELECT kind, wait_key, question, signal_name, signal_key, deadline_at IS NOT NULL"
        " FROM task_waits WHERE task_id = %s",
        (task_id,),
    )
    return await cursor.fetchone()
