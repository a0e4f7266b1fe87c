"""`assistente prune`: the maintenance prune, once, now: finished tasks past RETENTION_DAYS
(dead letters past DEAD_LETTER_RETENTION_DAYS) with their stored files, signals past their
window, and rows of workers stopped or dead past a day. The same jobs the maintenance
leader runs (Maintenance.prune_now), so the same batches and the same order (rows first,
their files once the delete committed). `--dry-run` counts what would go, deleting nothing.
Exit 1 when Postgres cannot be reached, 2 when the settings are wrong."""

from __future__ import annotations

import asyncio

import click

from app.bootstrap import (
    ConfigError,
    database_url,
    operator_queries,
    prune_config,
    pruner,
    running_services,
)
from app.bootstrap.preflight import Unavailable, check_database
from app.cli_startup import EXIT_CONFIG, fail, start
from app.config import Settings
from app.operator_output import emit_json, emit_table

LABELS = {
    "tasks": "finished tasks past retention",
    "artifacts": "tasks' artifact folders",
    "signals": "expired signals",
    "workers": "stopped or dead worker rows",
}


async def _prune(settings: Settings, *, dry_run: bool) -> dict[str, int]:
    await check_database(database_url(settings))
    async with running_services(settings, process="cli") as services:
        if dry_run:
            config = prune_config(settings)
            return await operator_queries(services).prunable(
                retention_seconds=config.retention_seconds,
                dead_letter_retention_seconds=config.dead_letter_retention_seconds,
                worker_retention_seconds=config.worker_retention_seconds,
            )
        counts = await pruner(services).prune_now()
        return {
            "tasks": counts.pruned,
            "artifacts": counts.artifacts_cleared,
            "signals": counts.signals_pruned,
            "workers": counts.workers_pruned,
        }


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
def prune(dry_run: bool, as_json: bool) -> None:
    """Delete now what maintenance prunes: finished tasks past retention and their files,
    expired signals, old worker rows; print how many of each."""
    settings = start("cli")
    try:
        counts = asyncio.run(_prune(settings, dry_run=dry_run))
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    except Unavailable as error:
        fail(str(error))
    if as_json:
        emit_json({"dryRun": dry_run, **counts})
        return
    verb = "would delete" if dry_run else "deleted"
    rows = [{"what": LABELS[key], verb: count} for key, count in counts.items()]
    emit_table("prune (dry run)" if dry_run else "prune", ("what", verb), rows, empty="")
