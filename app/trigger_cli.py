"""`assistente triggers list`: a tenant's triggers as an operator sees them, straight from
the database (the lines themselves are app/trigger_table.py's)."""

from __future__ import annotations

import asyncio
import uuid

import click

from app.bootstrap import ConfigError, running_services, trigger_store
from app.cli_startup import EXIT_CONFIG, fail, start
from app.trigger_table import trigger_lines


@click.group()
def triggers() -> None:
    """Look at triggers (create and change them with the API: /api/v1/triggers)."""


@triggers.command("list")
@click.option("--tenant", "tenant_id", type=click.UUID, required=True, help="The tenant's id.")
def triggers_list(tenant_id: uuid.UUID) -> None:
    """List a tenant's triggers: what each waits for, what it starts, how often it fired."""
    settings = start("cli")

    async def listed() -> list[str]:
        async with running_services(settings, process="cli") as services:
            return trigger_lines(await trigger_store(services).list(tenant_id))

    try:
        lines = asyncio.run(listed())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    for line in lines:
        click.echo(line)
