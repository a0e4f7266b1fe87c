"""The worker registry: a worker's row while it runs, when it stops, when it dies."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.bootstrap import build_worker
from tests.workers.conftest import Enqueue, StartWorker, fast_settings
from tests.workers.test_processes import spawn_worker, stop
from tests.workers_registry.conftest import worker_row

Conn = psycopg.AsyncConnection[Any]


async def row_when(
    conn: Conn, worker_id: str, check: Any, *, within: float = 15.0
) -> dict[str, Any]:
    """Poll the worker's row until `check(row)` holds; return it."""
    deadline = time.monotonic() + within
    row = None
    while time.monotonic() < deadline:
        row = await worker_row(conn, worker_id)
        if row is not None and check(row):
            return row
        await asyncio.sleep(0.05)
    pytest.fail(f"worker {worker_id} row never matched: {row}")


async def test_a_started_worker_registers_with_its_fields_and_heartbeats(
    conn: Conn, start_worker: StartWorker
) -> None:
    running = await start_worker(worker_id="registry-w1", worker_concurrency=7)
    first = await row_when(conn, "registry-w1", lambda r: r["status"] == "running")
    assert first["host"] == socket.gethostname()
    assert first["pid"] == os.getpid()
    assert first["version"] == importlib.metadata.version("assistente-tasks")
    assert first["concurrency"] == 7
    assert first["held_tasks"] == 0
    assert first["stopped_at"] is None
    # A 2 s lease heartbeats every 2/3 s: the row is touched again.
    later = await row_when(
        conn, "registry-w1", lambda r: r["last_heartbeat_at"] > first["last_heartbeat_at"]
    )
    assert later["started_at"] == first["started_at"]
    await running.stop()


async def test_a_worker_that_stops_cleanly_is_marked_stopped(
    conn: Conn, start_worker: StartWorker
) -> None:
    running = await start_worker(worker_id="registry-w2")
    await row_when(conn, "registry-w2", lambda r: r["status"] == "running")
    await running.stop()
    row = await worker_row(conn, "registry-w2")
    assert row is not None
    assert row["status"] == "stopped"
    assert row["stopped_at"] is not None


async def test_the_view_counts_the_tasks_a_worker_holds(
    conn: Conn, start_worker: StartWorker, enqueue: Enqueue
) -> None:
    release = asyncio.Event()
    handlers = HandlerRegistry()

    @handlers.handler("test.hold")
    async def hold(ctx: TaskContext) -> None:
        await release.wait()

    held = await enqueue("test.hold", 3)
    running = await start_worker(handlers, worker_id="registry-w3", worker_concurrency=5)
    row = await row_when(conn, "registry-w3", lambda r: r["held_tasks"] == 3)
    assert sorted(row["held_task_ids"]) == sorted(held)
    release.set()
    await row_when(conn, "registry-w3", lambda r: r["held_tasks"] == 0)
    await running.stop()


async def test_a_killed_worker_is_marked_dead_by_the_maintenance_leader(
    conn: Conn, database_url: str, tmp_path: Path, start_worker: StartWorker
) -> None:
    victim = spawn_worker(database_url, tmp_path, "--worker-id", "registry-victim")
    try:
        await row_when(conn, "registry-victim", lambda r: r["status"] == "running", within=30)
        # It may be the maintenance leader itself: killed, its lock goes with its session.
        victim.send_signal(signal.SIGKILL)
    finally:
        stop(victim, signal.SIGKILL)
    # Another worker's maintenance leads now, and finds it silent past
    # greatest(3 heartbeats, a lease) = 2 s.
    survivor = await start_worker(worker_id="registry-survivor")
    row = await row_when(conn, "registry-victim", lambda r: r["status"] == "dead", within=30)
    assert row["stopped_at"] is not None
    assert (await worker_row(conn, "registry-survivor") or {})["status"] == "running"
    await survivor.stop()


async def test_rows_of_workers_gone_for_a_day_are_pruned(
    conn: Conn, database_url: str, tmp_path: Path
) -> None:
    await conn.execute(
        "INSERT INTO workers (id, host, pid, version, concurrency, heartbeat_seconds,"
        " lease_seconds, status, started_at, last_heartbeat_at, stopped_at) VALUES"
        " ('old-stopped', 'h', 1, 'v', 1, 10, 30, 'stopped', now() - interval '3 days',"
        "  now() - interval '2 days', now() - interval '25 hours'),"
        " ('old-dead', 'h', 2, 'v', 1, 10, 30, 'dead', now() - interval '3 days',"
        "  now() - interval '2 days', now() - interval '25 hours'),"
        " ('recent-stopped', 'h', 3, 'v', 1, 10, 30, 'stopped', now() - interval '3 hours',"
        "  now() - interval '2 hours', now() - interval '1 hour')"
    )
    process = build_worker(fast_settings(log_dir=tmp_path), url=database_url)
    await process.services.start()
    try:
        counts = await process.maintenance.run_once(prune=True)
    finally:
        await process.services.stop()
    assert counts.workers_pruned == 2
    cursor = await conn.execute("SELECT id FROM workers ORDER BY id")
    assert await cursor.fetchall() == [("recent-stopped",)]
