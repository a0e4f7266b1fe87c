"""Schedules declared in code (HandlerRegistry.schedule), checked as the API checks a
schedule's task, when a worker is built: a mistake stops the worker at start, naming
the schedule, rather than failing at every tick."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from app.api.schedule_schemas import code_schedule_task
from app.api.tasks import command
from app.application.handlers import HandlerRegistry
from app.application.schedules import CodeSchedule
from app.config import ConfigError


@dataclass(frozen=True, slots=True)
class CodeSchedules:
    """What a worker syncs as it starts: its declared schedules, and the task types it
    handles (code schedules of those types that it no longer declares are retired)."""

    declared: list[CodeSchedule]
    handled_types: list[str]


def code_schedules(registry: HandlerRegistry, *, default_max_attempts: int) -> CodeSchedules:
    """The registry's schedules, their tasks checked against POST /api/v1/tasks' body."""
    declared = []
    for item in registry.schedules:
        try:
            body = code_schedule_task(item.task)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'task'}: {e['msg']}"
                for e in error.errors()
            )
            raise ConfigError(
                f"schedule {item.name!r}: its task is not valid: {problems}"
            ) from None
        task = command(body, item.tenant_id, None, default_max_attempts=default_max_attempts)
        declared.append(
            CodeSchedule(item.tenant_id, item.name, item.cron, item.timezone, task, item.missed)
        )
    return CodeSchedules(declared, list(registry))
