"""Worker processes against one database: no double execution, crash recovery, CLI shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.workers.conftest import Enqueue, attempts_of, wait_for_status

Conn = psycopg.AsyncConnection[Any]
ROOT = Path(__file__).resolve().parents[2]


def spawn_worker(
    database_url: str, tmp_path: Path, *args: str, **env: str
) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_DIR": str(tmp_path / "logs"),
        "LOG_CONSOLE": "false",
        "DEMO_TASKS_ENABLED": "true",
        "WORKER_LEASE_SECONDS": "2",
        "WORKER_POLL_INTERVAL_SECONDS": "0.5",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", *args],
        env=environment,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def wait_for_log(path: Path, event: str, *, count: int, within: float = 30) -> None:
    """Until `event` appears `count` times in the JSON log at `path`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count(f'"event": "{event}"') >= count:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"{event} not logged {count} times in {within}s")


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    if process.poll() is None:
        process.send_signal(sig)
    output, _ = process.communicate(timeout=30)
    return output


async def status_of(conn: Conn, task_id: uuid.UUID) -> str:
    row = await (
        await conn.execute("SELECT status::text FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    assert row is not None
    return str(row[0])


async def worker_of(conn: Conn, task_id: uuid.UUID) -> str | None:
    row = await (
        await conn.execute("SELECT locked_by FROM tasks WHERE id = %s", (task_id,))
    ).fetchone()
    return row[0] if row else None


@pytest.mark.slow
async def test_several_worker_processes_never_run_a_task_twice(
    conn: Conn, enqueue: Enqueue, database_url: str, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    records.mkdir()
    workers = [
        spawn_worker(
            database_url,
            tmp_path,
            "--app",
            "tests.workers.recording_handlers:registry",
            "--concurrency",
            "10",
            "--worker-id",
            f"racer-{n}",
            RECORD_DIR=str(records),
        )
        for n in range(3)
    ]
    try:
        # Tasks go in once all three are up: a worker that starts late would find the
        # others had drained everything, and the race would prove nothing.
        await wait_for_log(tmp_path / "logs" / "worker.log", "worker_started", count=3)
        ids = await enqueue("test.record", count=3000)
        await wait_for_status(conn, ids, {"Succeeded"}, within=120)
    finally:
        outputs = [stop(w) for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    runs = Counter(line for path in records.glob("*.log") for line in path.read_text().splitlines())
    assert len(runs) == 3000
    assert set(runs.values()) == {1}, [t for t, n in runs.items() if n > 1][:5]
    assert len(list(records.glob("*.log"))) == 3  # all three workers took part
    # Exactly one attempt per task, each Succeeded: tasks a worker held ahead and handed
    # back unstarted (Reserved, never Running) leave no attempt row.
    cursor = await conn.execute(
        "SELECT status::text, count(*), count(DISTINCT task_id), count(DISTINCT worker_id)"
        " FROM task_attempts GROUP BY status"
    )
    assert await cursor.fetchall() == [("Succeeded", 3000, 3000, 3)]


@pytest.mark.slow
async def test_a_killed_worker_task_completes_elsewhere_after_its_lease(
    conn: Conn, enqueue: Enqueue, database_url: str, tmp_path: Path
) -> None:
    [task_id] = await enqueue("demo.sleep", payload={"seconds": 3})
    doomed = spawn_worker(database_url, tmp_path, "--worker-id", "doomed")
    try:
        await wait_for_status(conn, [task_id], {"Running"}, within=20)
        assert await worker_of(conn, task_id) == "doomed"
        survivor = spawn_worker(database_url, tmp_path, "--worker-id", "survivor")
        doomed.kill()
        killed_at = time.monotonic()
        await wait_for_status(conn, [task_id], {"Succeeded"}, within=20)
        # lease (2 s) + maintenance tick + pickup + the 3 s handler, with room for a slow machine
        assert time.monotonic() - killed_at < 12
    finally:
        stop(doomed)
        stop(survivor)
    attempts = await attempts_of(conn, task_id)
    assert [(a[1], a[2], a[5]) for a in attempts] == [
        ("Lost", "LeaseExpired", "doomed"),
        ("Succeeded", None, "survivor"),
    ]


@pytest.mark.slow
async def test_a_task_that_kills_every_worker_ends_in_dead_letter(
    conn: Conn, enqueue: Enqueue, database_url: str, tmp_path: Path
) -> None:
    [task_id] = await enqueue("demo.crash", max_attempts=3)
    spawned, status = 0, "Queued"
    while status != "DeadLetter" and spawned < 8:
        # Each new worker rescues the previous lease, claims the task again, and dies;
        # the fourth finds the attempts used up and dead-letters it.
        worker = spawn_worker(database_url, tmp_path)
        spawned += 1
        while worker.poll() is None and (status := await status_of(conn, task_id)) != "DeadLetter":
            await asyncio.sleep(0.1)
        stop(worker)
        status = await status_of(conn, task_id)
    attempts = await attempts_of(conn, task_id)
    assert [a[1] for a in attempts] == ["Lost", "Lost", "Lost"]
    assert spawned <= 5


@pytest.mark.slow
async def test_sigterm_releases_running_tasks_and_exits_cleanly(
    conn: Conn, enqueue: Enqueue, database_url: str, tmp_path: Path
) -> None:
    [task_id] = await enqueue("demo.sleep", payload={"seconds": 60})
    worker = spawn_worker(database_url, tmp_path, WORKER_SHUTDOWN_GRACE_SECONDS="0.5")
    await wait_for_status(conn, [task_id], {"Running"}, within=20)
    output = stop(worker, signal.SIGTERM)
    assert worker.returncode == 0, output
    await wait_for_status(conn, [task_id], {"Queued"}, within=1)
    assert [a[1] for a in await attempts_of(conn, task_id)] == ["Released"]


@pytest.mark.slow
async def test_a_second_signal_exits_at_once(
    conn: Conn, enqueue: Enqueue, database_url: str, tmp_path: Path
) -> None:
    [task_id] = await enqueue("demo.sleep", payload={"seconds": 60})
    worker = spawn_worker(database_url, tmp_path, WORKER_SHUTDOWN_GRACE_SECONDS="60")
    await wait_for_status(conn, [task_id], {"Running"}, within=20)
    worker.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=10)
    assert time.monotonic() - started < 3
    assert worker.returncode == 128 + signal.SIGTERM
