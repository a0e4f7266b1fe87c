"""`assistente workers`: the registry on a terminal and as JSON; exit 1 when none runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner

from app.cli import main
from tests.workers.conftest import StartWorker
from tests.workers_registry.test_registry import row_when

Conn = psycopg.AsyncConnection[Any]


def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "LOG_DIR": str(tmp_path), "LOG_CONSOLE": "false"}


async def test_the_cli_prints_running_and_stopped_workers_as_json(
    conn: Conn, database_url: str, tmp_path: Path, start_worker: StartWorker
) -> None:
    gone = await start_worker(worker_id="cli-gone", worker_concurrency=2)
    await row_when(conn, "cli-gone", lambda r: r["status"] == "running")
    await gone.stop()
    await start_worker(worker_id="cli-live", worker_concurrency=3)
    await row_when(conn, "cli-live", lambda r: r["status"] == "running")

    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["workers", "--json"], env=cli_env(database_url, tmp_path)
    )

    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["workers"]
    # Running ones first.
    assert [(w["id"], w["status"], w["concurrency"]) for w in listed] == [
        ("cli-live", "running", 3),
        ("cli-gone", "stopped", 2),
    ]
    assert listed[0]["heldTasks"] == 0
    assert listed[0]["stoppedAt"] is None
    assert listed[1]["stoppedAt"] is not None


async def test_the_cli_table_names_each_worker(
    conn: Conn, database_url: str, tmp_path: Path, start_worker: StartWorker
) -> None:
    await start_worker(worker_id="cli-table", worker_concurrency=5)
    await row_when(conn, "cli-table", lambda r: r["status"] == "running")

    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["workers"], env=cli_env(database_url, tmp_path)
    )

    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "cli-table" in line]
    assert "running" in line
    assert "0/5" in line


async def test_the_cli_exits_1_when_no_worker_is_running(database_url: str, tmp_path: Path) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["workers", "--json"], env=cli_env(database_url, tmp_path)
    )

    assert result.exit_code == 1
    assert json.loads(result.output) == {"workers": []}
