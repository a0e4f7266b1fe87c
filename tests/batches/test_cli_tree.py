"""`assistente tasks show ID` draws a batch as a tree: its tasks, then its callback."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from tests.batches.conftest import MakeBatch


async def test_a_batch_is_shown_as_a_tree_of_its_tasks(
    database_url: str, tmp_path: Path, make_batch: MakeBatch
) -> None:
    batch = await make_batch(3)
    env = {"DATABASE_URL": database_url, "LOG_DIR": str(tmp_path), "LOG_CONSOLE": "false"}
    args = ["tasks", "show", str(batch.id), "--tenant", str(batch.tenant_id), "--limit", "2"]
    # The command runs its own event loop: run it in a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"batch {batch.id}  Created  0/3 ended")
    assert [line[:8] for line in lines[1:]] == ["├─ task ", "├─ task ", "├─ … 1 m", "└─ onCom"]
    assert lines[-1] == "└─ onComplete (not queued yet)"
