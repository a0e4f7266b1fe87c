"""`assistente schedules list`: the schedules as an operator sees them, every tenant's
or one's, straight from the database."""

from __future__ import annotations

import asyncio
import uuid

import click

from app.application.schedules import ScheduleRecord
from app.bootstrap import ConfigError, running_services, schedule_store
from app.config import Settings, load_settings
from app.logging import configure_logging

PAGE = 200


def schedule_line(record: ScheduleRecord) -> str:
    """One schedule: name, tenant, cron and zone, state, where it came from, next tick."""
    if record.retired_at is not None:
        state = "retired"
    elif record.paused:
        state = "paused"
    else:
        state = f"next {record.upcoming(1)[0].isoformat()}"
    last = f"  last {record.last_tick_at.isoformat()}" if record.last_tick_at else ""
    return (
        f"{record.name}  tenant {record.tenant_id}  {record.cron!r} {record.timezone}"
        f"  {record.task.get('type')}  {record.source}  missed={record.missed.value}"
        f"  {state}{last}"
    )


async def all_schedules(settings: Settings, tenant_id: uuid.UUID | None) -> list[ScheduleRecord]:
    """Every schedule (of one tenant, or of all), by name."""
    async with running_services(settings, process="cli") as services:
        store = schedule_store(services)
        found: list[ScheduleRecord] = []
        after: str | None = None
        while True:
            page = await store.page(tenant_id, after=after, limit=PAGE)
            found += page
            if len(page) < PAGE:
                return found
            after = page[-1].name


@click.group()
def schedules() -> None:
    """Look at schedules (cron)."""


@schedules.command("list")
@click.option("--tenant", "tenant_id", type=click.UUID, help="Only this tenant's schedules.")
def schedules_list(tenant_id: uuid.UUID | None) -> None:
    """List schedules: name, tenant, cron and time zone, task type, source (api or code),
    missed policy, and the next tick (or paused / retired)."""
    try:
        settings = load_settings()
        configure_logging("cli", log_dir=settings.log_dir, level=settings.log_level, console=False)
        found = asyncio.run(all_schedules(settings, tenant_id))
    except ConfigError as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None
    if not found:
        click.echo("no schedules")
    for record in found:
        click.echo(schedule_line(record))
