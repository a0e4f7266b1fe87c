"""PgSignalStore: signals kept in `signals`, delivered by the SQL function signal_send
(migration 0016), which resumes the waiting tasks in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from app.adapters.postgres.connection_scope import ConnectionScope
from app.adapters.postgres.queries import query
from app.application.signal_store import SignalDelivery, SignalRecord


class PgSignalStore(ConnectionScope):
    """SignalStore over a pool, or over one connection (a caller's own transaction)."""

    async def send(
        self,
        tenant_id: uuid.UUID,
        signal_id: uuid.UUID,
        name: str,
        key: str,
        data: Any,
        *,
        request_hash: str,
        retention_seconds: float,
    ) -> SignalDelivery:
        params = {
            "tenant_id": tenant_id,
            "id": signal_id,
            "name": name,
            "key": key,
            "data": Jsonb(data),
            "request_hash": request_hash,
            "retention_seconds": retention_seconds,
        }
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute(query("signal_send"), params)
            row = await cursor.fetchone()
            assert row is not None  # signal_send answers one row, always
            created, stored_hash, resumed, received_at, expires_at = row
            if created:
                # The tenant's triggers on this name start their tasks here, in the
                # signal's transaction: exactly when the signal is kept (a replay fired
                # them already).
                await conn.execute(query("signal_fire_triggers"), params)
                signal = SignalRecord(signal_id, name, key, data, received_at, expires_at, resumed)
                return SignalDelivery(True, stored_hash, signal)
            kept = await _get(conn, tenant_id, signal_id)
        assert kept is not None  # the id's row exists: signal_send just found it
        return SignalDelivery(False, stored_hash, kept)

    async def get(self, tenant_id: uuid.UUID, signal_id: uuid.UUID) -> SignalRecord | None:
        async with self._connection() as conn:
            return await _get(conn, tenant_id, signal_id)


async def _get(
    conn: AsyncConnection[Any], tenant_id: uuid.UUID, signal_id: uuid.UUID
) -> SignalRecord | None:
    cursor = await conn.execute(query("signal_get"), {"tenant_id": tenant_id, "id": signal_id})
    row = await cursor.fetchone()
    if row is None:
        return None
    found_id, name, key, data, created_at, expires_at, resumed = row
    return SignalRecord(found_id, name, key, data, created_at, expires_at, resumed)
