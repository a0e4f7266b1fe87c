"""The one representation of a task: every endpoint that returns tasks renders them here,
so create, batch, list, get, cancel and requeue show the same fields filled the same way."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from app.api.dependencies import deps
from app.api.schemas import TaskBody
from app.application.decisions import TaskWait
from app.application.task_repository import TaskRecord
from app.domain.enums import TaskStatus


def task_fields(
    task: TaskRecord, result: str | None = None, wait: TaskWait | None = None
) -> dict[str, Any]:
    """The fields of a task's TaskBody; `result` is the JSON text of its result artifact.

    A batch validates all its tasks' fields in one pydantic call, several times cheaper
    than a TaskBody per task. `state` is what a running handler says it is doing: the
    row keeps the last one reported, which is stale once the attempt is over.
    """
    running = task.status is TaskStatus.RUNNING
    succeeded = task.status is TaskStatus.SUCCEEDED
    return {
        "id": task.id,
        "tenant_id": task.tenant_id,
        "type": task.type,
        "domain_type": task.domain_type,
        "capability_type": task.capability_type,
        "execution_type": task.execution_type,
        "priority": task.priority,
        "status": task.status,
        "progress": task.progress,
        "state": task.state if running else None,
        "metadata": dict(task.metadata),
        "attempt_count": task.attempt_count,
        "max_attempts": task.max_attempts,
        "last_error": task.last_error,
        "cancel_requested": task.cancel_requested_at is not None,
        "correlation_id": task.correlation_id,
        "trace_id": task.trace_id,
        "scheduled_at": task.scheduled_at,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "payload": dict(task.payload),
        "result": json.loads(result) if succeeded and result is not None else None,
        "waiting_for": waiting_for(wait) if wait is not None else None,
    }


def waiting_for(wait: TaskWait) -> dict[str, Any]:
    """What a parked task waits for, as TaskBody.waitingFor shows it."""
    return {
        "kind": wait.kind,
        "wait_key": wait.wait_key,
        "question": wait.question,
        "input_schema": dict(wait.schema) if wait.schema is not None else None,
        "signal": wait.signal_name,
        "key": wait.signal_key,
        "since": wait.since,
        "deadline": wait.deadline_at,
        "on_deadline": wait.on_deadline,
    }


def task_body(task: TaskRecord, result: str | None = None) -> TaskBody:
    return TaskBody.model_validate(task_fields(task, result))


async def rendered_fields(tasks: Sequence[TaskRecord]) -> list[dict[str, Any]]:
    """`task_fields` of each task, with the results of the succeeded ones (one query for
    all of them; none when no task has succeeded, as on a fresh create)."""
    succeeded = [task.id for task in tasks if task.status is TaskStatus.SUCCEEDED]
    results = await deps().queries.results(succeeded) if succeeded else {}
    waits = await _waits([task for task in tasks if task.status is TaskStatus.CREATED])
    return [task_fields(task, results.get(task.id), waits.get(task.id)) for task in tasks]


async def _waits(parked: Sequence[TaskRecord]) -> dict[uuid.UUID, TaskWait]:
    """What the parked tasks wait for: one query a tenant (a page has one)."""
    store = deps().waits
    if store is None or not parked:
        return {}
    found: dict[uuid.UUID, TaskWait] = {}
    for tenant_id in {task.tenant_id for task in parked}:
        ids = [task.id for task in parked if task.tenant_id == tenant_id]
        found.update(await store.waits_of(tenant_id, ids))
    return found


async def rendered(task: TaskRecord) -> TaskBody:
    """One task's TaskBody, its result loaded if it has succeeded."""
    [fields] = await rendered_fields([task])
    return TaskBody.model_validate(fields)
