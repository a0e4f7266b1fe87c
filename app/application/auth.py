"""Tenants and API keys: who is calling, and on whose behalf."""

from __future__ import annotations

import re
import time
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


class UnknownTenant(DomainError):
    def __init__(self, tenant_id: uuid.UUID) -> None:
        super().__init__(f"no enabled tenant {tenant_id}")


class InvalidKeyName(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name!r} is not a valid key name: 1-63 letters, digits, '.', '_' or '-', "
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


async def add_tenant_key(
    tenant_id: uuid.UUID,
    *,
    tenants: TenantRepository,
    admin: bool = False,
    key_name: str = "default",
) -> IssuedKey:
    """A further key for an existing tenant, live at once beside its others: the first
    step of a rotation (add the new key, move callers to it, revoke the old one)."""
    if not TENANT_NAME.match(key_name):
        raise InvalidKeyName(key_name)
    if not await tenants.exists(tenant_id):
        raise UnknownTenant(tenant_id)
    return await issue_key(tenant_id, tenants=tenants, admin=admin, key_name=key_name)


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


# How long a successful key lookup is trusted: a revoked key (or a disabled tenant's)
# still works in a process that looked it up at most this long ago.
KEY_CACHE_SECONDS = 2.0


class PrincipalCache:
    """Successful key lookups of the last `ttl` seconds, by key hash.

    Spares the database a query per request. Only live keys are stored: an unknown or
    revoked key is looked up every time, so it never passes for a live one.
    """

    def __init__(self, ttl: float = KEY_CACHE_SECONDS, *, max_keys: int = 10_000) -> None:
        self.ttl = ttl
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._max_keys = max_keys

    def get(self, key_hash: bytes, now: float) -> Principal | None:
        """The principal stored for `key_hash` if it was looked up less than `ttl` ago."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        expires, principal = entry
        if now >= expires:
            del self._entries[key_hash]
            return None
        return principal

    def put(self, key_hash: bytes, principal: Principal, now: float) -> None:
        """Trust `principal` for `key_hash` until `now + ttl`."""
        self._entries.pop(key_hash, None)  # re-stored keys move to the end
        if len(self._entries) >= self._max_keys:
            # Entries sit in the order they were stored, so the first expires first.
            del self._entries[next(iter(self._entries))]
        self._entries[key_hash] = (now + self.ttl, principal)


async def authenticate(
    key: str,
    *,
    tenants: TenantRepository,
    cache: PrincipalCache | None = None,
    now: float | None = None,
) -> Principal | None:
    """The principal behind a presented key, or None for an unknown or revoked key.

    With a `cache`, a key looked up less than `cache.ttl` seconds ago is not looked up
    again. `now` is on the `time.monotonic()` clock.
    """
    if not key or len(key) > 200:
        return None
    key_hash = hash_api_key(key)
    if cache is None:
        return await tenants.authenticate(key_hash)
    # Taken before the lookup, so an entry never outlives the bound counted from when
    # the database said the key was live.
    now = time.monotonic() if now is None else now
    principal = cache.get(key_hash, now)
    if principal is None:
        principal = await tenants.authenticate(key_hash)
        if principal is not None:
            cache.put(key_hash, principal, now)
    return principal
