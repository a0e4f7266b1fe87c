"""Tenants and API keys: who is calling, and on whose behalf."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Protocol

from app.domain.api_keys import hash_api_key, new_api_key, visible_prefix
from app.domain.errors import DomainError

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class TenantNameTaken(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a tenant called {name!r} already exists")


class InvalidTenantName(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name!r} is not a valid tenant name: 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: one tenant's key, or an admin key that sees every tenant."""

    key_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_name: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as created: the only time its full text exists outside the caller's hands."""

    tenant_id: uuid.UUID
    key_id: uuid.UUID
    key: str

    @property
    def prefix(self) -> str:
        return visible_prefix(self.key)


class TenantRepository(Protocol):
    """Tenants and their API keys."""

    async def ensure(self, name: str) -> uuid.UUID:
        """The tenant's id, creating the tenant if needed."""
        ...

    async def exists(self, tenant_id: uuid.UUID) -> bool:
        """Whether an enabled tenant has this id."""
        ...

    async def create(self, name: str) -> uuid.UUID:
        """A new tenant; raises TenantNameTaken if the name is taken."""
        ...

    async def add_key(
        self, tenant_id: uuid.UUID, *, name: str, prefix: str, key_hash: bytes, is_admin: bool
    ) -> uuid.UUID:
        """Store a key's hash; returns the key's id."""
        ...

    async def ensure_key(
        self, tenant_id: uuid.UUID, *, name: str, prefix: str, key_hash: bytes, is_admin: bool
    ) -> None:
        """Store a key's hash unless it is already stored."""
        ...

    async def authenticate(self, key_hash: bytes) -> Principal | None:
        """The live key with this hash, or None."""
        ...

    async def revoke(self, key_id_or_prefix: str) -> str | None:
        """Revoke a key; its prefix, or None if no live key matched."""
        ...


async def create_tenant(
    name: str, *, tenants: TenantRepository, admin: bool = False, key_name: str = "default"
) -> IssuedKey:
    """A new tenant with a first API key."""
    if not TENANT_NAME.match(name):
        raise InvalidTenantName(name)
    tenant_id = await tenants.create(name)
    return await issue_key(tenant_id, tenants=tenants, admin=admin, key_name=key_name)


async def issue_key(
    tenant_id: uuid.UUID,
    *,
    tenants: TenantRepository,
    admin: bool = False,
    key_name: str = "default",
) -> IssuedKey:
    """Another API key for an existing tenant."""
    key = new_api_key()
    key_id = await tenants.add_key(
        tenant_id,
        name=key_name,
        prefix=visible_prefix(key),
        key_hash=hash_api_key(key),
        is_admin=admin,
    )
    return IssuedKey(tenant_id, key_id, key)


async def ensure_dev_key(key: str, *, tenants: TenantRepository) -> uuid.UUID:
    """Development: make `key` an admin key of a `dev` tenant (idempotent)."""
    tenant_id = await tenants.ensure("dev")
    await tenants.ensure_key(
        tenant_id,
        name="DEV_API_KEY",
        prefix=visible_prefix(key),
        key_hash=hash_api_key(key),
        is_admin=True,
    )
    return tenant_id


async def authenticate(key: str, *, tenants: TenantRepository) -> Principal | None:
    """The principal behind a presented key, or None for an unknown or revoked key."""
    if not key or len(key) > 200:
        return None
    return await tenants.authenticate(hash_api_key(key))
