"""`assistente schedules list`: every schedule, or one tenant's, with its next tick."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from tests.schedules.conftest import Conn, MakeSchedule


async def test_schedules_are_listed_with_their_next_tick_or_their_state(
    conn: Conn, database_url: str, tmp_path: Path, make_schedule: MakeSchedule
) -> None:
    daily = await make_schedule("0 6 * * *", name="daily", timezone="Europe/Berlin")
    await make_schedule("*/5 * * * *", name="often", paused=True, missed="runOnce")
    env = {"DATABASE_URL": database_url, "LOG_DIR": str(tmp_path), "LOG_CONSOLE": "false"}
    # The command runs its own event loop: run it in a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, main, ["schedules", "list"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"daily  tenant {daily.tenant_id}  '0 6 * * *' Europe/Berlin")
    assert "demo.noop  api  missed=skip  next " in lines[0]
    assert lines[0].split("next ")[1].endswith(("T06:00:00+01:00", "T06:00:00+02:00"))
    assert lines[1].startswith("often  ")
    assert lines[1].endswith("missed=runOnce  paused")

    other = str(uuid.uuid4())
    args = ["schedules", "list", "--tenant", other]
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert (result.exit_code, result.output) == (0, "no schedules\n")
