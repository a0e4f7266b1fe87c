"""Handlers with a schedule declared in code, for worker processes started by tests
(`--app tests.schedules.scheduled_handlers:registry`): the tenant comes from
SCHEDULE_TENANT_ID, and SCHEDULE_CRON (optional) changes the schedule's cron."""

from __future__ import annotations

import os
import uuid

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry

registry = HandlerRegistry()


@registry.handler("sched.tick")
async def tick(ctx: TaskContext) -> None:
    return None


if os.environ.get("SCHEDULE_TENANT_ID"):
    registry.schedule(
        "every-second",
        os.environ.get("SCHEDULE_CRON", "* * * * * *"),
        timezone="Europe/Berlin",
        task={"type": "sched.tick", "payload": {"declared": "in code"}},
        tenant_id=uuid.UUID(os.environ["SCHEDULE_TENANT_ID"]),
        missed="runOnce",
    )
