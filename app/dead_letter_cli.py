"""`assistente dead-letters list|requeue`: dead letters filtered by tenant, type, error code
and since; a bulk requeue counts first, can be a dry run, and requeues each through the
same guarded requeue as the API (a batch's child reopens its batch)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from app.application.dead_letters import (
    BulkRequeue,
    DeadLetterFilter,
    requeue_dead_letters,
)
from app.bootstrap import ConfigError, operator_queries, running_services
from app.cli_startup import EXIT_CONFIG, fail, start
from app.config import Settings
from app.operator_output import emit_json, emit_table, parse_since

COLUMNS = ("id", "tenantId", "type", "errorCode", "attempts", "deadSince", "lastError")
PREVIEW = 10


def _filters(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(
        [
            click.option("--tenant", "tenant_id", type=click.UUID, help="Only this tenant."),
            click.option("--type", "task_type", help="Only tasks of this type."),
            click.option("--error-code", help="Only those dead-lettered with this error code."),
            click.option("--since", help="Dead-lettered since: an ISO 8601 instant, or 2h, 7d."),
            click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts."),
        ]
    ):
        command = option(command)
    return command


def _which(
    tenant_id: uuid.UUID | None, task_type: str | None, error_code: str | None, since: str | None
) -> DeadLetterFilter:
    return DeadLetterFilter(
        until=datetime.now(UTC),
        tenant_id=tenant_id,
        type=task_type,
        error_code=error_code,
        since=parse_since(since) if since else None,
    )


def letter_row(row: dict[str, Any]) -> dict[str, Any]:
    """A dead letter as the commands show it."""
    return {
        "id": row["id"],
        "tenantId": row["tenant_id"],
        "type": row["type"],
        "errorCode": row["error_code"],
        "attempts": row["attempt_count"],
        "deadSince": row["finished_at"],
        "lastError": row["last_error"],
    }


async def _look(settings: Settings, which: DeadLetterFilter, limit: int) -> tuple[int, list[Any]]:
    async with running_services(settings, process="cli") as services:
        letters = operator_queries(services)
        return await letters.count(which), await letters.page(which, after=None, limit=limit)


@click.group("dead-letters")
def dead_letters() -> None:
    """Look at dead letters, and requeue them in bulk."""


@dead_letters.command("list")
@_filters
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def dead_letters_list(
    tenant_id: uuid.UUID | None,
    task_type: str | None,
    error_code: str | None,
    since: str | None,
    as_json: bool,
    limit: int,
) -> None:
    """List dead letters, the oldest first, with the count of all that match."""
    settings = start("cli")
    which = _which(tenant_id, task_type, error_code, since)
    try:
        count, rows = asyncio.run(_look(settings, which, limit))
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    items = [letter_row(row) for row in rows]
    if as_json:
        emit_json({"count": count, "items": items})
        return
    emit_table(f"dead letters ({count} match)", COLUMNS, items, empty="no dead letters match")


@dead_letters.command("requeue")
@_filters
@click.option("--limit", type=click.IntRange(1), default=None, help="Requeue at most this many.")
@click.option("--dry-run", is_flag=True, help="Print the count and the first ones; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dead_letters_requeue(
    tenant_id: uuid.UUID | None,
    task_type: str | None,
    error_code: str | None,
    since: str | None,
    as_json: bool,
    limit: int | None,
    dry_run: bool,
    yes: bool,
) -> None:
    """Requeue the dead letters that match, with fresh attempts, in pages: prints how many
    were requeued and how many were skipped (no longer requeueable when their turn came).
    Asks first unless --yes; --dry-run only shows what it would requeue."""
    settings = start("cli")
    which = _which(tenant_id, task_type, error_code, since)
    try:
        count, rows = asyncio.run(_look(settings, which, PREVIEW))
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    count = count if limit is None else min(count, limit)
    if dry_run:
        _show_plan(count, rows, as_json)
        return
    if count == 0:
        _report(BulkRequeue(), as_json)
        return
    if not yes:
        if as_json:
            fail("--json without --dry-run needs --yes (nothing to confirm with)")
        click.echo(f"{count} dead letters match.")
        click.confirm("Requeue them?", abort=True, err=True)

    async def requeue() -> BulkRequeue:
        async with running_services(settings, process="cli") as services:
            return await requeue_dead_letters(
                which,
                requested_by="operator",
                letters=operator_queries(services),
                tasks=services.tasks,
                limit=limit,
            )

    _report(asyncio.run(requeue()), as_json)


def _show_plan(count: int, rows: list[Any], as_json: bool) -> None:
    items = [letter_row(row) for row in rows]
    if as_json:
        emit_json({"dryRun": True, "count": count, "first": items})
        return
    click.echo(f"dry run: would requeue {count} dead letters; nothing changed")
    emit_table("the first of them", COLUMNS, items, empty="")


def _report(done: BulkRequeue, as_json: bool) -> None:
    if as_json:
        emit_json({"requeued": done.requeued, "skipped": done.skipped})
    else:
        click.echo(f"requeued {done.requeued}, skipped {done.skipped}")
