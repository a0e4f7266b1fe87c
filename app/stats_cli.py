"""`assistente stats`: the queue's numbers, live like `top` on a terminal, or one snapshot.

The numbers are GET /api/v1/queue/stats's (query queue_stats), plus parked tasks by why
they wait (view task_waiting) and the running workers (view worker_activity). On a
terminal the view refreshes every --interval until Ctrl-C; with --once, --json or a
stdout that is not a terminal it prints one snapshot and exits. Exit 1 when Postgres
cannot be reached (one line on stderr), 2 when the settings are wrong."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

import click
from psycopg import OperationalError
from rich.console import Group
from rich.live import Live
from rich.table import Table

from app.api.schemas import QueueStats
from app.bootstrap import ConfigError, database_url, operator_queries, running_services
from app.bootstrap.preflight import Unavailable, check_database
from app.cli_startup import EXIT_CONFIG, fail, start
from app.operator_output import console, emit_json

QUEUE_ROWS = (
    ("waiting", "waiting"),
    ("scheduled", "scheduled"),
    ("running", "running"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("deadLettered", "dead-lettered"),
    ("cancelled", "cancelled"),
    ("oldestWaitingSeconds", "oldest waiting (s)"),
    ("finishedLastMinute", "finished, last 1 min"),
    ("finishedLast5Minutes", "finished, last 5 min"),
    ("finishedLast15Minutes", "finished, last 15 min"),
)


class StatsQueries(Protocol):
    """The reads a snapshot takes (PgOperatorQueries has them)."""

    async def queue_stats(self, tenant_id: uuid.UUID | None) -> dict[str, Any]: ...

    async def parked(self, tenant_id: uuid.UUID | None) -> dict[str, int]: ...

    async def worker_summary(self) -> dict[str, int]: ...


async def snapshot(queries: StatsQueries, tenant_id: uuid.UUID | None) -> dict[str, Any]:
    """One reading of every number, as --json prints it."""
    scope = str(tenant_id) if tenant_id else "all"
    queue = QueueStats.model_validate({**await queries.queue_stats(tenant_id), "scope": scope})
    document = queue.model_dump(mode="json", by_alias=True)
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scope": document.pop("scope"),
        "queue": document,
        "parked": await queries.parked(tenant_id),
        "workers": await queries.worker_summary(),
    }


def stats_view(reading: dict[str, Any]) -> Group:
    """The snapshot as three small tables: the queue, parked tasks, workers."""
    queue = Table(
        title=f"queue ({reading['scope']})", title_justify="left", caption=f"at {reading['at']}"
    )
    queue.add_column("")
    queue.add_column("tasks", justify="right")
    for key, label in QUEUE_ROWS:
        value = reading["queue"][key]
        queue.add_row(label, f"{value:.1f}" if isinstance(value, float) else str(value))
    parked = Table(title="parked, by reason", title_justify="left")
    parked.add_column("reason")
    parked.add_column("tasks", justify="right")
    for reason, count in reading["parked"].items():
        parked.add_row(reason, str(count))
    if not reading["parked"]:
        parked.caption = "none parked"
    workers = Table(title="workers", title_justify="left")
    for column in ("running", "slots", "held"):
        workers.add_column(column, justify="right")
    summary = reading["workers"]
    workers.add_row(str(summary["running"]), str(summary["slots"]), str(summary["held"]))
    return Group(queue, parked, workers)


def _print_once(reading: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        emit_json(reading)
    else:
        console().print(stats_view(reading))


@click.command()
@click.option("--tenant", "tenant_id", type=click.UUID, help="Only this tenant (default all).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON snapshot, for scripts.")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="How often the live view refreshes.",
)
@click.option("--once", is_flag=True, help="Print one snapshot and exit.")
def stats(tenant_id: uuid.UUID | None, as_json: bool, interval: float, once: bool) -> None:
    """The queue's numbers, parked tasks and workers: live on a terminal (Ctrl-C stops),
    one snapshot with --once, --json or off a terminal."""
    settings = start("cli")
    live = None if once or as_json or not sys.stdout.isatty() else interval

    async def run() -> None:
        await check_database(database_url(settings))
        async with running_services(settings, process="cli") as services:
            queries = operator_queries(services)
            reading = await snapshot(queries, tenant_id)
            if live is None:
                _print_once(reading, as_json=as_json)
                return
            with Live(stats_view(reading), console=console(), auto_refresh=False) as view:
                while True:
                    await asyncio.sleep(live)
                    view.update(stats_view(await snapshot(queries, tenant_id)), refresh=True)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    except Unavailable as error:
        fail(str(error))
    except OperationalError as error:  # the database went away while the view ran
        fail(f"Postgres stopped answering: {(str(error).strip().splitlines() or ['?'])[0]}")
