"""`assistente tasks show` and `assistente tasks waiting`: one task (a batch or a saga as a
tree) and the parked tasks, straight from the database."""

from __future__ import annotations

import asyncio
import uuid

import click

from app.application.batches import BatchRecord, iterate_children
from app.application.task_repository import TaskRecord
from app.bootstrap import ConfigError, batch_store, running_services, saga_store, wait_store
from app.cli_startup import EXIT_CONFIG, fail, start
from app.saga_tree import saga_tree
from app.waiting_list import waiting_lines


@click.group()
def tasks() -> None:
    """Look at tasks."""


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
