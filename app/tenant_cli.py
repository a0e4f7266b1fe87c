"""`assistente tenants create`, `add-key` and `revoke-key`: tenants and their API keys,
managed from the command line. Rotating a key: add-key, move callers, revoke-key."""

from __future__ import annotations

import asyncio
import uuid

import click

from app.application.auth import IssuedKey, add_tenant_key, create_tenant
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


@tenants.command("add-key")
@click.argument("tenant_id", type=click.UUID)
@click.option("--name", "key_name", default="default", show_default=True, help="A label.")
@click.option("--admin", is_flag=True, help="The key sees and manages every tenant.")
def tenants_add_key(tenant_id: uuid.UUID, key_name: str, admin: bool) -> None:
    """Add an API key to tenant TENANT_ID and print it (shown once). Its other keys stay
    live, so callers can move to the new one before the old one is revoked."""
    settings = start("cli")

    async def add() -> IssuedKey:
        async with running_services(settings, process="cli") as services:
            return await add_tenant_key(
                tenant_id, tenants=tenant_repository(services), admin=admin, key_name=key_name
            )

    try:
        issued = asyncio.run(add())
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    except DomainError as error:
        fail(str(error))
    click.echo(f"key {issued.prefix}… ({key_name}) added to tenant {tenant_id}: {issued.key_id}")
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
