"""Handlers for process-level tests, loaded with `assistente worker --app`."""

from __future__ import annotations

import os
from pathlib import Path

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry

registry = HandlerRegistry()


@registry.handler("test.record")
async def record(ctx: TaskContext) -> None:
    """Append the task id to this process's file: a second run of a task would show twice."""
    path = Path(os.environ["RECORD_DIR"]) / f"{os.getpid()}.log"
    with path.open("a") as out:
        out.write(f"{ctx.task_id}\n")
