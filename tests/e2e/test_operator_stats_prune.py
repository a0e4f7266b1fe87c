"""`assistente stats` and `assistente prune` against a real database: the queue's numbers
as JSON and as a table, an unreachable database, a dry run that counts, a prune that
deletes exactly what is past retention."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql
from psycopg.types.json import Jsonb

from app.cli import main
from tests.e2e.test_cli import CLI, clean_env
from tests.factories import insert_task, insert_tenant, leased

Conn = psycopg.AsyncConnection[Any]
LONG_AGO = datetime.now(UTC) - timedelta(days=40)


@pytest.fixture
def artifact_dir(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def run(database_url: str, tmp_path: Path, artifact_dir: Path) -> Any:
    """run(*args, url=None) -> click's Result of `assistente args` against this database."""

    async def invoke(*args: str, url: str | None = None) -> Result:
        env = {
            "DATABASE_URL": url or database_url,
            "LOG_DIR": str(tmp_path),
            "LOG_CONSOLE": "false",
            "ARTIFACT_DIR": str(artifact_dir),
        }
        # The command runs its own event loop: run it in a thread of its own.
        return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)

    return invoke


async def insert_worker(conn: Conn, worker_id: str, *, status: str, stopped_ago: str) -> None:
    await conn.execute(
        "INSERT INTO workers (id, host, pid, version, concurrency, heartbeat_seconds,"
        " lease_seconds, status, started_at, last_heartbeat_at, stopped_at) VALUES"
        " (%s, 'h', 1, 'v', 4, 10, 30, %s, now() - interval '3 days', now(),"
        "  CASE WHEN %s = 'running' THEN NULL ELSE now() - %s::interval END)",
        (worker_id, status, status, stopped_ago),
    )


async def insert_signal(conn: Conn, tenant: uuid.UUID, *, expired: bool) -> None:
    await conn.execute(
        "INSERT INTO signals (tenant_id, id, name, key, data, request_hash, expires_at)"
        " VALUES (%s, %s, 'payment', 'order-1', %s, 'h', now() + %s * interval '1 hour')",
        (tenant, uuid.uuid4(), Jsonb({}), -1 if expired else 1),
    )


async def count(conn: Conn, table: str) -> int:
    statement = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    row = await (await conn.execute(statement)).fetchone()
    assert row is not None
    return int(row[0])


async def test_stats_json_counts_the_rows_of_the_queue_parked_tasks_and_workers(
    conn: Conn, run: Any
) -> None:
    one, other = await insert_tenant(conn), await insert_tenant(conn)
    for _ in range(3):
        await insert_task(conn, one)
    await insert_task(conn, one, **leased("w-1"))
    await insert_task(conn, one, status="Succeeded", finished_at=datetime.now(UTC))
    await insert_task(conn, one, status="Created", wait_reason="input")
    await insert_task(conn, one, status="Created", wait_reason="input")
    await insert_task(conn, one, status="Created", wait_reason="signal")
    await insert_task(conn, other)
    await insert_task(conn, other, status="Created", wait_reason="decision")
    await insert_worker(conn, "w-1", status="running", stopped_ago="0")
    await insert_worker(conn, "w-gone", status="stopped", stopped_ago="1 hour")

    result = await run("stats", "--tenant", str(one), "--json")
    assert result.exit_code == 0, result.output
    reading = json.loads(result.output)
    assert reading["scope"] == str(one)
    queue = reading["queue"]
    assert (queue["waiting"], queue["running"], queue["succeeded"]) == (3, 1, 1)
    assert queue["finishedLastMinute"] == 1
    assert reading["parked"] == {"input": 2, "signal": 1}
    assert reading["workers"] == {"running": 1, "slots": 4, "held": 1}

    everyone = json.loads((await run("stats", "--json")).output)
    assert everyone["scope"] == "all"
    assert everyone["queue"]["waiting"] == 4
    assert everyone["parked"] == {"decision": 1, "input": 2, "signal": 1}


async def test_stats_once_prints_the_numbers_as_tables_and_exits(conn: Conn, run: Any) -> None:
    tenant = await insert_tenant(conn)
    await insert_task(conn, tenant, status="DeadLetter", finished_at=datetime.now(UTC))
    await insert_task(conn, tenant, status="Created", wait_reason="children")

    result = await run("stats", "--once")
    assert result.exit_code == 0, result.output
    assert "queue (all)" in result.output and "\x1b[" not in result.output
    dead_line = next(line for line in result.output.splitlines() if "dead-lettered" in line)
    assert dead_line.split("│")[-2].strip() == "1"
    children_line = next(line for line in result.output.splitlines() if "children" in line)
    assert children_line.split("│")[-2].strip() == "1"
    assert "workers" in result.output


async def test_stats_exits_1_with_one_line_when_postgres_cannot_be_reached(run: Any) -> None:
    result = await run("stats", "--json", url="postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot reach Postgres")
    assert result.output.count("\n") == 1


async def expired_rows(conn: Conn, artifact_dir: Path) -> dict[str, Any]:
    """Rows past retention (defaults: 7 days, dead letters 30) and rows within it."""
    tenant = await insert_tenant(conn)
    old_done = await insert_task(conn, tenant, status="Succeeded", finished_at=LONG_AGO)
    old_dead = await insert_task(conn, tenant, status="DeadLetter", finished_at=LONG_AGO)
    kept = {
        "recent_done": await insert_task(
            conn, tenant, status="Succeeded", finished_at=datetime.now(UTC) - timedelta(days=1)
        ),
        "dead_within_30_days": await insert_task(
            conn,
            tenant,
            status="DeadLetter",
            finished_at=datetime.now(UTC) - timedelta(days=10),
        ),
        "queued": await insert_task(conn, tenant),
    }
    await conn.execute(
        "INSERT INTO task_artifacts (task_id, kind, name, uri) VALUES (%s, 'file', 'a', %s)",
        (old_done, f"artifact://local/{old_done}/0123456789abcdef-a.txt"),
    )
    folder = artifact_dir / str(old_done)
    folder.mkdir(parents=True)
    (folder / "0123456789abcdef-a.txt").write_text("old")
    await insert_signal(conn, tenant, expired=True)
    await insert_signal(conn, tenant, expired=True)
    await insert_signal(conn, tenant, expired=False)
    await insert_worker(conn, "old-stopped", status="stopped", stopped_ago="25 hours")
    await insert_worker(conn, "recent-dead", status="dead", stopped_ago="1 hour")
    return {"gone": {old_done, old_dead}, "kept": set(kept.values()), "folder": folder}


async def test_prune_dry_run_counts_what_would_go_and_deletes_nothing(
    conn: Conn, run: Any, artifact_dir: Path
) -> None:
    rows = await expired_rows(conn, artifact_dir)

    result = await run("prune", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "dryRun": True,
        "tasks": 2,
        "artifacts": 1,
        "signals": 2,
        "workers": 1,
    }
    assert (await count(conn, "tasks"), await count(conn, "signals")) == (5, 3)
    assert (await count(conn, "workers"), await count(conn, "task_artifacts")) == (2, 1)
    assert rows["folder"].exists()

    table = await run("prune", "--dry-run")
    assert table.exit_code == 0, table.output
    assert "would delete" in table.output and "expired signals" in table.output


async def test_prune_deletes_exactly_the_rows_past_retention_and_their_files(
    conn: Conn, run: Any, artifact_dir: Path
) -> None:
    rows = await expired_rows(conn, artifact_dir)

    result = await run("prune", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "dryRun": False,
        "tasks": 2,
        "artifacts": 1,
        "signals": 2,
        "workers": 1,
    }
    cursor = await conn.execute("SELECT id FROM tasks")
    assert {row[0] for row in await cursor.fetchall()} == rows["kept"]
    assert await count(conn, "task_artifacts") == 0
    assert not rows["folder"].exists()
    cursor = await conn.execute("SELECT id FROM workers")
    assert [row[0] for row in await cursor.fetchall()] == ["recent-dead"]
    cursor = await conn.execute("SELECT count(*) FROM signals WHERE expires_at > now()")
    assert (await cursor.fetchone(), await count(conn, "signals")) == ((1,), 1)

    again = await run("prune", "--json")
    assert json.loads(again.output)["tasks"] == 0


def test_stats_on_a_terminal_refreshes_until_ctrl_c(database_url: str, tmp_path: Path) -> None:
    """On a terminal the view redraws every --interval with fresh numbers; Ctrl-C ends it
    with exit 0."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        tenant = conn.execute("INSERT INTO tenants (name) VALUES ('t') RETURNING id").fetchone()
    assert tenant is not None
    env = {**clean_env(tmp_path), "DATABASE_URL": database_url, "LOG_CONSOLE": "false"}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*CLI, "stats", "--interval", "0.2"], stdin=follower, stdout=follower, env=env
    )
    os.close(follower)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 20
        while text not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                seen += os.read(leader, 65536)

    try:
        read_until(b"queue (all)")
        # A task queued now shows up in a later frame: the view reads the database again.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO tasks (tenant_id, type) VALUES (%s, 'demo.noop')", (tenant[0],)
            )
        read_until(b"waiting")
        seen = b""
        deadline = time.monotonic() + 20
        while not re.search(rb"waiting\s*\S*\s*1\s", seen):
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                seen += os.read(leader, 65536)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
