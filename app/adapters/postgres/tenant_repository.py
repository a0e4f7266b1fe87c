"""PgTenantRepository: tenants and their hashed API keys."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.queries import query
from app.application.auth import Principal, TenantNameTaken


class PgTenantRepository:
    """TenantRepository over a psycopg pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def ensure(self, name: str) -> uuid.UUID:
        return await self._returning_id("tenant_ensure", {"name": name})

    async def exists(self, tenant_id: uuid.UUID) -> bool:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("tenant_exists"), {"id": tenant_id})
            return await cursor.fetchone() is not None

    async def create(self, name: str) -> uuid.UUID:
        try:
            return await self._returning_id("tenant_create", {"name": name})
        except psycopg.errors.UniqueViolation as error:
            raise TenantNameTaken(name) from error

    async def add_key(
        self, tenant_id: uuid.UUID, *, name: str, prefix: str, key_hash: bytes, is_admin: bool
    ) -> uuid.UUID:
        return await self._returning_id(
            "api_key_create",
            {
                "tenant_id": tenant_id,
                "name": name,
                "prefix": prefix,
                "key_hash": key_hash,
                "is_admin": is_admin,
            },
        )

    async def ensure_key(
        self, tenant_id: uuid.UUID, *, name: str, prefix: str, key_hash: bytes, is_admin: bool
    ) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                query("api_key_ensure"),
                {
                    "tenant_id": tenant_id,
                    "name": name,
                    "prefix": prefix,
                    "key_hash": key_hash,
                    "is_admin": is_admin,
                },
            )

    async def authenticate(self, key_hash: bytes) -> Principal | None:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("api_key_authenticate"), {"key_hash": key_hash})
            row = await cur.fetchone()
        if row is None:
            return None
        return Principal(row["id"], row["tenant_id"], row["tenant_name"], row["is_admin"])

    async def revoke(self, key_id_or_prefix: str) -> str | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("api_key_revoke"), {"key": key_id_or_prefix})
            row = await cursor.fetchone()
        return str(row[1]) if row else None

    async def _returning_id(self, name: str, params: dict[str, object]) -> uuid.UUID:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query(name), params)
            row = await cursor.fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]
