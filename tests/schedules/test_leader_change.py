"""Three worker processes, a schedule ticking every second, and the maintenance leader
SIGKILLed mid-run: another worker takes over, and every tick from the first to the last
started exactly one task: no duplicate, no gap."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.batches.http import Caller, acme, base_url
from tests.schedules.conftest import ticks_of
from tests.workers.conftest import wait_for_status
from tests.workers.test_processes import spawn_worker, stop

__all__ = ["acme", "base_url"]  # fixtures: the real API under Hypercorn

Conn = psycopg.AsyncConnection[Any]
WORKERS = 3


def leadership(log: Path) -> list[bool]:
    """What a worker logged of its maintenance leadership, in order."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        if '"maintenance_leadership"' in line:
            found.append(bool(json.loads(line)["leader"]))
    return found


async def wait_for_leader(logs: list[Path], among: list[int], within: float = 30) -> int:
    """The worker (an index of `logs`, one of `among`) that leads now."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        leaders = [n for n in among if leadership(logs[n])[-1:] == [True]]
        if leaders:
            assert len(leaders) == 1, f"two leaders at once: {leaders}"
            return leaders[0]
        await asyncio.sleep(0.05)
    pytest.fail(f"no worker took the lead within {within}s")


async def wait_for_ticks(conn: Conn, schedule_id: uuid.UUID, after: datetime, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sum(1 for t in await ticks_of(conn, schedule_id) if t > after) >= count:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"schedule {schedule_id}: fewer than {count} ticks after {after}")


async def schedule_id_of(conn: Conn, name: str) -> uuid.UUID:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cursor = await conn.execute("SELECT id FROM schedules WHERE name = %s", (name,))
        row = await cursor.fetchone()
        if row is not None:
            return row[0]  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    pytest.fail(f"no schedule {name!r}")


@pytest.mark.slow
async def test_a_schedule_ticks_exactly_once_per_tick_across_a_leader_kill(
    acme: Caller, conn: Conn, database_url: str, tmp_path: Path
) -> None:
    created = await acme.http.post(
        "/api/v1/schedules",
        json={"name": "heartbeat", "cron": "* * * * * *", "task": {"type": "demo.noop"}},
    )
    assert created.status_code == 201, created.text
    api_schedule = uuid.UUID(created.json()["id"])
    workers: list[subprocess.Popen[str]] = []
    logs = [tmp_path / f"w{n}" / "logs" / "worker.log" for n in range(WORKERS)]
    try:
        for n in range(WORKERS):
            workers.append(
                spawn_worker(
                    database_url,
                    tmp_path / f"w{n}",
                    "--app",
                    "tests.schedules.scheduled_handlers:registry",
                    "--worker-id",
                    f"w{n}",
                    SCHEDULE_TENANT_ID=str(acme.tenant_id),  # its code declares one more
                )
            )
        code_schedule = await schedule_id_of(conn, "every-second")
        schedules = [api_schedule, code_schedule]
        leader = await wait_for_leader(logs, list(range(WORKERS)))
        start = (await ticks_of(conn, api_schedule) or [datetime.now().astimezone()])[0]
        for schedule in schedules:
            await wait_for_ticks(conn, schedule, start - timedelta(seconds=1), 3)

        cursor = await conn.execute("SELECT now()")
        killed_at = (await cursor.fetchone() or [None])[0]
        workers[leader].send_signal(signal.SIGKILL)
        stopped = time.monotonic()
        workers[leader].communicate(timeout=10)
        others = [n for n in range(WORKERS) if n != leader]
        successor = await wait_for_leader(logs, others)
        takeover = time.monotonic() - stopped
        for schedule in schedules:
            await wait_for_ticks(conn, schedule, killed_at + timedelta(seconds=1), 3)
        for schedule in schedules:
            paused = await acme.http.post(f"/api/v1/schedules/{schedule}/pause")
            assert paused.status_code == 200, paused.text
    finally:
        outputs = [stop(w) for w in workers if w.returncode is None]

    assert successor != leader
    print(f"leader w{leader} killed; w{successor} led {takeover:.2f}s later")
    for schedule in schedules:
        ticks = await ticks_of(conn, schedule)
        gaps = [(a, b) for a, b in itertools.pairwise(ticks) if b - a != timedelta(seconds=1)]
        assert gaps == [], f"schedule {schedule}: ticks not one a second: {gaps}"
        assert ticks[0] < killed_at < ticks[-1] - timedelta(seconds=1)
        cursor = await conn.execute(
            "SELECT t.id FROM tasks t JOIN task_events e ON e.task_id = t.id"
            " WHERE e.detail -> 'schedule' ->> 'id' = %s",
            (str(schedule),),
        )
        ids = [row[0] for row in await cursor.fetchall()]
        assert len(ids) == len(set(ids)) == len(ticks)
        # The killed worker's tasks come back when its leases run out: all run, once.
        await wait_for_status(conn, ids, {"Succeeded"}, within=60)
    survivors = [w for n, w in enumerate(workers) if n != leader]
    assert [w.returncode for w in survivors] == [0] * (WORKERS - 1), outputs
