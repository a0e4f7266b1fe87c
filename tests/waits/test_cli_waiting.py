"""`assistente tasks waiting` lists parked tasks from the task_waiting view: what each
waits for and since when."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from app.domain import waits
from app.domain.enums import ExecutionType
from tests.workers.conftest import Enqueue


async def run_cli(database_url: str, tmp_path: Path, *args: str) -> list[str]:
    env = {"DATABASE_URL": database_url, "LOG_DIR": str(tmp_path), "LOG_CONSOLE": "false"}
    result = await asyncio.to_thread(CliRunner().invoke, main, ["tasks", "waiting", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


async def test_waiting_tasks_are_listed_with_what_they_wait_for_and_since_when(
    database_url: str, tmp_path: Path, enqueue: Enqueue, tenant: uuid.UUID
) -> None:
    [gated] = await enqueue(
        "gated",
        execution_type=ExecutionType.HUMAN_IN_LOOP,
        wait=waits.approval("Ship order 7?", deadline_seconds=3600),
    )
    [paid] = await enqueue("ship", wait=waits.signal_wait("payment", "o-7", on_timeout="cancel"))
    await enqueue("demo.noop")  # queued: not parked, not listed

    lines = await run_cli(database_url, tmp_path, "--tenant", str(tenant))
    assert len(lines) == 2
    assert lines[0].startswith(f"{gated}  gated  waits for approval 'Ship order 7?'  since ")
    assert lines[0].endswith(" -> reject") and "deadline " in lines[0]
    assert lines[1].startswith(f"{paid}  ship  waits for signal payment/o-7  since ")
    assert "deadline" not in lines[1]

    assert await run_cli(database_url, tmp_path, "--tenant", str(uuid.uuid4())) == [
        "no task is waiting"
    ]
