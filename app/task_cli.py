"""`assistente tasks list|show|waiting|cancel|requeue`: tasks of every tenant (or one),
one task (a batch or a saga as a tree), the parked tasks, and an operator's cancel and
requeue through the same use cases as the API, straight from the database."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import click

from app.application.batches import BatchRecord, iterate_children
from app.application.task_repository import TaskRecord
from app.application.tasks import (
    TaskAlreadyFinished,
    TaskNotFound,
    TaskNotRequeueable,
    cancel_task,
    requeue_task,
)
from app.bootstrap import (
    ConfigError,
    batch_store,
    operator_queries,
    running_services,
    saga_store,
    wait_store,
)
from app.cli_startup import EXIT_CONFIG, fail, start
from app.domain.enums import TaskStatus
from app.operator_output import emit_json, emit_table
from app.saga_tree import saga_tree
from app.waiting_list import waiting_lines


@click.group()
def tasks() -> None:
    """Look at tasks, cancel or requeue them."""


TASK_COLUMNS = ("id", "tenantId", "type", "status", "attempts", "createdAt", "lastError")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
TENANT_OPTION = click.option(
    "--tenant", "tenant_id", type=click.UUID, required=True, help="The task's tenant id."
)


def task_row(row: dict[str, Any]) -> dict[str, Any]:
    """A task as the operator commands show it (camelCase keys, as the API spells them)."""
    return {
        "id": row["id"],
        "tenantId": row["tenant_id"],
        "type": row["type"],
        "status": str(row["status"]),
        "attempts": f"{row['attempt_count']}/{row['max_attempts']}",
        "createdAt": row["created_at"],
        "finishedAt": row["finished_at"],
        "lastError": row["last_error"],
    }


@tasks.command("list")
@click.option("--tenant", "tenant_id", type=click.UUID, default=None, help="Only this tenant.")
@click.option("--status", type=click.Choice([s.value for s in TaskStatus]), default=None)
@click.option("--type", "task_type", default=None, help="Only tasks of this type.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@JSON_OPTION
def tasks_list(
    tenant_id: uuid.UUID | None,
    status: str | None,
    task_type: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List the newest tasks of every tenant (or one), by status and type."""
    settings = start("cli")

    async def newest() -> list[dict[str, Any]]:
        async with running_services(settings, process="cli") as services:
            return await operator_queries(services).tasks(
                tenant_id=tenant_id, status=status, type=task_type, limit=limit
            )

    try:
        rows = [task_row(row) for row in asyncio.run(newest())]
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    if as_json:
        emit_json({"items": rows})
    else:
        emit_table("tasks", TASK_COLUMNS, rows, empty="no tasks match")


@tasks.command("cancel")
@click.argument("task_id", type=click.UUID)
@TENANT_OPTION
@JSON_OPTION
def tasks_cancel(task_id: uuid.UUID, tenant_id: uuid.UUID, as_json: bool) -> None:
    """Cancel task TASK_ID now if it waits, or ask its worker to stop it if it runs (a batch
    cancels its children). Exit 1 if there is no such task or it already finished."""
    settings = start("cli")

    async def cancel() -> TaskStatus:
        async with running_services(settings, process="cli") as services:
            return await cancel_task(tenant_id, task_id, tasks=services.tasks)

    try:
        status = asyncio.run(cancel())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    except (TaskNotFound, TaskAlreadyFinished) as error:
        fail(str(error))
    outcome = "cancelled" if status is TaskStatus.CANCELLED else "requested"
    if as_json:
        emit_json({"id": task_id, "outcome": outcome, "status": status.value})
    else:
        click.echo(f"task {task_id}: cancel {outcome} ({status.value})")


@tasks.command("requeue")
@click.argument("task_id", type=click.UUID)
@TENANT_OPTION
@JSON_OPTION
def tasks_requeue(task_id: uuid.UUID, tenant_id: uuid.UUID, as_json: bool) -> None:
    """Put DeadLetter (or Failed) task TASK_ID back in the queue with fresh attempts (a batch's
    child reopens its batch). Exit 1 if there is no such task or it cannot be requeued."""
    settings = start("cli")

    async def requeue() -> TaskRecord | None:
        async with running_services(settings, process="cli") as services:
            await requeue_task(tenant_id, task_id, requested_by="operator", tasks=services.tasks)
            return await services.tasks.get(tenant_id, task_id)

    try:
        task = asyncio.run(requeue())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    except (TaskNotFound, TaskNotRequeueable) as error:
        fail(str(error))
    status = task.status.value if task else "pruned"
    if as_json:
        emit_json({"id": task_id, "outcome": "requeued", "status": status})
    else:
        click.echo(f"task {task_id}: requeued ({status})")


@tasks.command("show")
@click.argument("task_id", type=click.UUID)
@click.option("--tenant", "tenant_id", type=click.UUID, required=True, help="The task's tenant id.")
@click.option("--limit", default=50, show_default=True, help="Children shown under a batch.")
def tasks_show(task_id: uuid.UUID, tenant_id: uuid.UUID, limit: int) -> None:
    """Show task TASK_ID; a batch as a tree (its tasks, then its callback), a saga as a
    tree (its steps in order, each with its compensation)."""
    settings = start("cli")

    async def show() -> list[str]:
        async with running_services(settings, process="cli") as services:
            task = await services.tasks.get(tenant_id, task_id)
            if task is None:
                return []
            saga = await saga_store(services).get(tenant_id, task_id)
            if saga is not None:
                return saga_tree(saga)
            batches = batch_store(services)
            batch = await batches.get(tenant_id, task_id)
            if batch is None:
                return [_task_line(task)]
            children = []
            async for child in iterate_children(tenant_id, task_id, batches=batches):
                children.append(child)
                if len(children) >= limit:
                    break
            callback = None
            if batch.callback_task_id is not None:
                callback = await services.tasks.get(tenant_id, batch.callback_task_id)
            return batch_tree(batch, children, callback)

    try:
        lines = asyncio.run(show())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    if not lines:
        fail(f"no task {task_id} for tenant {tenant_id}")
    for line in lines:
        click.echo(line)


@tasks.command("waiting")
@click.option("--tenant", "tenant_id", type=click.UUID, default=None, help="Only this tenant.")
@click.option("--limit", default=100, show_default=True, help="Tasks shown.")
def tasks_waiting(tenant_id: uuid.UUID | None, limit: int) -> None:
    """List parked tasks, the longest waiting first: what each waits for (a person's
    approval or input, a signal, its children, its dependencies) and since when."""
    settings = start("cli")

    async def parked() -> list[str]:
        async with running_services(settings, process="cli") as services:
            return waiting_lines(await wait_store(services).parked(tenant_id, limit=limit))

    try:
        lines = asyncio.run(parked())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    for line in lines or ["no task is waiting"]:
        click.echo(line)


def _task_line(task: TaskRecord) -> str:
    error = f"  ({task.last_error[:60]})" if task.last_error else ""
    return f"{task.id}  {task.type}  {task.status.value}{error}"


def batch_tree(
    batch: BatchRecord, children: list[TaskRecord], callback: TaskRecord | None
) -> list[str]:
    """A batch as lines of a tree: itself and its counts, its tasks, its callback."""
    lines = [
        f"batch {batch.id}  {batch.status.value}  {batch.done}/{batch.total} ended"
        f"  (succeeded {batch.succeeded}, dead-lettered {batch.dead_lettered},"
        f" cancelled {batch.cancelled})  {batch.failure_policy.value},"
        f" generation {batch.generation}"
    ]
    rows = [f"task {_task_line(child)}" for child in children]
    if batch.total > len(children):
        rows.append(f"… {batch.total - len(children)} more (--limit)")
    if batch.on_complete is not None:
        rows.append(
            f"onComplete {_task_line(callback)}" if callback else "onComplete (not queued yet)"
        )
    for n, row in enumerate(rows):
        lines.append(("└─ " if n == len(rows) - 1 else "├─ ") + row)
    return lines
