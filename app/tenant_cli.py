"""`assistente tenants create` and `assistente tenants revoke-key`: tenants and their API
keys, managed from the command line."""

from __future__ import annotations

import asyncio

import click

from app.application.auth import IssuedKey, create_tenant
from app.bootstrap import ConfigError, running_services, tenant_repository
from app.cli_startup import EXIT_CONFIG, fail, start
from app.domain.errors import DomainError


@click.group()
def tenants() -> None:
    """Manage tenants and their API keys."""


@tenants.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="The key sees and manages every tenant.")
def tenants_create(name: str, admin: bool) -> None:
    """Create tenant NAME and print its first API key (shown once)."""
    settings = start("cli")

    async def create() -> IssuedKey:
        async with running_services(settings, process="cli") as services:
            return await create_tenant(name, tenants=tenant_repository(services), admin=admin)

    try:
        issued = asyncio.run(create())
    except (ConfigError, DomainError) as error:
        fail(str(error), EXIT_CONFIG)
    click.echo(f"tenant {name} created: {issued.tenant_id}")
    click.echo(f"API key{' (admin)' if admin else ''}, shown once; store it now:")
    click.echo(issued.key)


@tenants.command("revoke-key")
@click.argument("key_id_or_prefix")
def tenants_revoke_key(key_id_or_prefix: str) -> None:
    """Revoke an API key by its id or its printed prefix (atk_…)."""
    settings = start("cli")

    async def revoke() -> str | None:
        async with running_services(settings, process="cli") as services:
            return await tenant_repository(services).revoke(key_id_or_prefix)

    try:
        revoked = asyncio.run(revoke())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    if revoked is None:
        fail(f"no live API key matches {key_id_or_prefix!r}")
    click.echo(f"revoked key {revoked}…")
