"""`assistente workers`: the worker registry as an operator sees it, straight from the
database: a table on a terminal, the API's JSON (GET /api/v1/workers) with --json.

Exits 1 when no worker is running (nothing would pick tasks up), so a script or a cron
check can alert on it; 2 when the settings are wrong."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table

from app.api.worker_schemas import WorkerList
from app.application.worker_registry import WorkerInfo
from app.bootstrap import ConfigError, running_services, worker_registry
from app.cli_startup import EXIT_CONFIG, EXIT_FAILED, fail, start

STATUS_STYLES = {"running": "green", "stopped": "dim", "dead": "bold red"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as GET /api/v1/workers).")
def workers(as_json: bool) -> None:
    """List registered workers: where they run, their last heartbeat, the tasks they hold.
    Exits 1 when none is running."""
    settings = start("cli")

    async def listed() -> Sequence[WorkerInfo]:
        async with running_services(settings, process="cli") as services:
            return await worker_registry(services).list()

    try:
        rows = asyncio.run(listed())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    if as_json:
        body = WorkerList.model_validate({"workers": [asdict(row) for row in rows]})
        click.echo(json.dumps(body.model_dump(mode="json", by_alias=True), indent=2))
    else:
        Console(soft_wrap=True).print(worker_table(rows, now=datetime.now(UTC)))
    if not any(row.status == "running" for row in rows):
        sys.exit(EXIT_FAILED)


def worker_table(rows: Sequence[WorkerInfo], *, now: datetime) -> Table:
    """One line per worker; ages relative to `now`."""
    table = Table(title="workers", title_justify="left")
    for column in ("id", "host", "pid", "version", "status", "held", "started", "heartbeat"):
        table.add_column(column, justify="right" if column in {"pid", "held"} else "left")
    for row in rows:
        table.add_row(
            row.id,
            row.host,
            str(row.pid),
            row.version,
            f"[{STATUS_STYLES[row.status]}]{row.status}[/]",
            f"{row.held_tasks}/{row.concurrency}",
            _ago(now, row.started_at),
            _ago(now, row.last_heartbeat_at),
        )
    if not rows:
        table.caption = "no workers registered"
    return table


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"
