"""A worker SIGKILLed while it finishes the last child of a batch: the child's outcome
and its parent's update commit together or not at all, so the batch completes once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import psycopg

from app.domain.enums import TaskStatus
from tests.batches.conftest import MakeBatch, batch_row, callbacks_of
from tests.workers.conftest import wait_for_status
from tests.workers.test_processes import spawn_worker

Conn = psycopg.AsyncConnection[Any]


async def wait_for_blocked_settle(conn: Conn, within: float = 20) -> None:
    """Until a session waits for a lock while running task_groups_settle."""
    for _ in range(int(within / 0.05)):
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%%task_groups_settle%%'"
        )
        row = await cursor.fetchone()
        if row and row[0] > 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no worker reached the settle of its batch")


async def test_a_worker_killed_while_finishing_the_last_child_leaves_nothing_half_done(
    conn: Conn, database_url: str, tmp_path: Path, make_batch: MakeBatch
) -> None:
    batch = await make_batch(1, max_attempts=3)
    [(child,)] = await (
        await conn.execute("SELECT id FROM tasks WHERE parent_id = %s", (batch.id,))
    ).fetchall()
    # Hold the batch's group row: the worker's finish statement runs, and its transaction
    # then waits in task_groups_settle, before it can commit.
    holder = await psycopg.AsyncConnection.connect(database_url)
    await holder.execute("BEGIN")
    await holder.execute("SELECT 1 FROM task_groups WHERE parent_id = %s FOR UPDATE", (batch.id,))
    worker = spawn_worker(database_url, tmp_path)
    try:
        await wait_for_blocked_settle(conn)
        worker.send_signal(signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.communicate(timeout=10)  # reaps it and closes its output pipe
    await holder.execute("ROLLBACK")
    await holder.close()

    # Killed mid-transaction: the child's outcome was rolled back with its parent's update.
    cursor = await conn.execute("SELECT status::text FROM tasks WHERE id = %s", (child,))
    assert await cursor.fetchone() in {("Reserved",), ("Running",)}
    row = await batch_row(conn, batch.id)
    assert (row["status"], row["remaining"]) == ("Created", 1)

    # Its lease runs out; another worker takes it over and finishes it: the batch
    # completes, once.
    replacement = spawn_worker(database_url, tmp_path)
    try:
        await wait_for_status(conn, [batch.id], {TaskStatus.SUCCEEDED.value}, within=30)
    finally:
        replacement.send_signal(signal.SIGTERM)
        replacement.communicate(timeout=30)
    row = await batch_row(conn, batch.id)
    assert (row["succeeded"], row["remaining"]) == (1, 0)
    assert len(await callbacks_of(conn, batch.id)) == 1
