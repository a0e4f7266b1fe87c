"""PgTenantRepository: tenants by name."""

from __future__ import annotations

import uuid

from psycopg_pool import AsyncConnectionPool

from app.adapters.postgres.queries import query


class PgTenantRepository:
    """Tenants over a psycopg pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def ensure(self, name: str) -> uuid.UUID:
        """The tenant's id, creating the tenant if it does not exist."""
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query("tenant_ensure"), {"name": name})
            row = await cursor.fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]
